import type { ObjectStorageConfig } from "./create-blob-store.ts";
import { bucketExpirations } from "./create-blob-store.ts";
import type { BlobStore } from "./blob-store.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The housekeeping half of bucket retention, for stores without lifecycle rules
 * (filesystem, Azure): deletes every object in an expiring bucket last modified more
 * than that bucket's `expirationDays` before `now`. The states and modules buckets keep
 * everything and are never listed. Idempotent; a storage error propagates (as
 * StorageUnavailableError) so the job retries, and what was deleted stays deleted.
 */
export async function expireObjects(
  store: Pick<BlobStore, "list" | "delete">,
  buckets: ObjectStorageConfig["buckets"],
  expirationDays: ObjectStorageConfig["expirationDays"],
  now: Date,
): Promise<Array<{ bucket: string; deleted: number }>> {
  const out: Array<{ bucket: string; deleted: number }> = [];
  for (const [bucket, days] of Object.entries(
    bucketExpirations({ buckets, expirationDays }),
  )) {
    const cutoff = now.getTime() - days * DAY_MS;
    let deleted = 0;
    for (const o of await store.list(bucket, "")) {
      if (o.modifiedAt.getTime() > cutoff) continue;
      await store.delete(bucket, o.key);
      deleted++;
    }
    out.push({ bucket, deleted });
  }
  return out;
}
