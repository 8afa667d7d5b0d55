import type { StateStore } from "./state-store.ts";

/** Non-current versions are kept this long after they were superseded (spacelift-reference §1.5). */
export const STATE_VERSION_RETENTION_DAYS = 30;
/** An object with no row is deleted only once it is this old, so in-flight writes are never hit. */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000;

/** Housekeeping of the states bucket, run by the `state.*` jobs (state-jobs.ts). */
export function createStateRetention(store: StateStore) {
  const { storage, bucket, repo, deleteObjects } = store;

  return {
    /**
     * Deletes versions superseded more than STATE_VERSION_RETENTION_DAYS before `now`:
     * rows first, then objects (an object left behind by a failure is an orphan, collected
     * later). The current version has no superseded_at and is never deleted.
     */
    async expireVersions(now: Date): Promise<number> {
      const before = new Date(
        now.getTime() - STATE_VERSION_RETENTION_DAYS * 86_400_000,
      );
      let total = 0;
      for (;;) {
        const deleted = await repo.deleteSupersededBefore(before, 500);
        await deleteObjects(deleted.map((d) => d.objectKey));
        total += deleted.length;
        if (deleted.length < 500) return total;
      }
    },

    /**
     * Deletes objects in the states bucket that no version row points to and that are
     * older than ORPHAN_GRACE_MS (uploads whose write was refused or crashed, objects of
     * deleted stacks). The grace period keeps it off uploads whose row is about to commit.
     */
    async collectOrphans(now: Date): Promise<string[]> {
      const cutoff = now.getTime() - ORPHAN_GRACE_MS;
      const candidates = (await storage.list(bucket, ""))
        .filter((o) => o.modifiedAt.getTime() < cutoff)
        .map((o) => o.key);
      const orphans: string[] = [];
      for (let i = 0; i < candidates.length; i += 500) {
        const batch = candidates.slice(i, i + 500);
        const referenced = await repo.referencedObjectKeys(batch);
        orphans.push(...batch.filter((k) => !referenced.has(k)));
      }
      await deleteObjects(orphans);
      return orphans;
    },
  };
}
