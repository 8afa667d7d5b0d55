import { ConflictError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import { StateVersionNotFoundError } from "./state-errors.ts";
import type { Actor, StateStore } from "./state-store.ts";
import {
  parseStateDocument,
  stateOutputs,
  type StateLock,
  type StateOutput,
  type StateVersion,
} from "./state.ts";

/**
 * A stack's state as people see and repair it: the lock and force-unlock, the version
 * history, rollback and import (new current versions, append-only), deletion of the
 * current state, and outputs. Mutations hold the stack's state transaction as the
 * backend's do (state-service.ts).
 */
export function createStateHistory(store: StateStore) {
  const {
    db,
    log,
    clock,
    newId,
    repo,
    requireAdmin,
    readObject,
    uploadObject,
    loadLock,
    lockedError,
    requireNoPendingRuns,
    actorOf,
  } = store;

  async function forceUnlockAs(
    actor: Actor,
    stackId: string,
  ): Promise<StateLock | null> {
    const removed = await db.transaction().execute(async (tx) => {
      await repo.lockStack(tx, stackId);
      return repo.deleteLock(tx, stackId);
    });
    log.warn(
      {
        actor: actor.id,
        actorName: actor.name,
        stackId,
        lock: removed ?? null,
      },
      removed ? "force-unlocked state" : "force-unlock: state was not locked",
    );
    return removed ?? null;
  }

  /**
   * Creates a NEW current version with the content of `versionId`, its serial set to one
   * above the current serial: tofu refuses to continue from a state whose serial is
   * lower than the one it last saw, and history stays append-only. The lineage is the
   * old version's. Refused while a live run holds the lock, (with
   * `refuseWithPendingRuns`) while the stack has unfinished runs, and if the state
   * changed while the copy was being prepared (retry then). Audited at warn.
   */
  async function rollbackAs(
    actor: Actor,
    stackId: string,
    versionId: string,
    opts: { refuseWithPendingRuns?: boolean } = {},
  ): Promise<StateVersion> {
    const source = await repo.findVersion(stackId, versionId);
    if (!source) throw new StateVersionNotFoundError(stackId, versionId);
    const before = await repo.findCurrent(stackId);
    const doc = parseStateDocument(await readObject(source.objectKey)).doc;
    doc.serial = Math.max(source.serial, (before?.serial ?? -1) + 1);
    const content = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
    const next = parseStateDocument(content);
    const newVersionId = newId();
    const objectKey = await uploadObject(stackId, newVersionId, content);
    const version = await db.transaction().execute(async (tx) => {
      await repo.lockStack(tx, stackId);
      if (opts.refuseWithPendingRuns)
        await requireNoPendingRuns(tx, stackId, "roll back the state");
      const lock = await loadLock(tx, stackId);
      if (lock && !lock.stale) throw lockedError(lock, "write");
      const current = await repo.findCurrent(stackId, tx);
      if (current?.id !== before?.id)
        throw new ConflictError(
          "the state changed while the rollback was prepared; retry the rollback",
        );
      return repo.insertCurrent(tx, {
        id: newVersionId,
        stackId,
        runId: null,
        serial: next.serial,
        lineage: next.lineage,
        checksum: next.checksum,
        size: next.size,
        objectKey,
        createdBy: actor.id,
        restoredFromId: source.id,
        now: clock(),
      });
    });
    log.warn(
      {
        actor: actor.id,
        actorName: actor.name,
        stackId,
        restoredFromId: source.id,
        versionId: version.id,
        serial: version.serial,
      },
      "rolled back state",
    );
    return version;
  }

  return {
    /** The current lock, and whether it is stale (its run ended); for the UI and admins. */
    async getLock(
      stackId: string,
    ): Promise<(StateLock & { stale: boolean }) | null> {
      return (await loadLock(db, stackId)) ?? null;
    },

    /** Admin only: removes the lock whoever holds it. Audited at warn. */
    async forceUnlock(
      session: Session,
      stackId: string,
    ): Promise<StateLock | null> {
      requireAdmin(session, "force-unlock a stack's state");
      return forceUnlockAs(actorOf(session), stackId);
    },

    /**
     * Force-unlock for a caller its caller has authorised (the API checks stack admin on
     * the stack's space). Audited at warn.
     */
    forceUnlockAs,

    /** Rollback for an actor its caller has authorised (the API checks stack admin). */
    rollbackAs,

    /** Admin only (session admin); see `rollbackAs`. */
    async rollback(
      session: Session,
      stackId: string,
      versionId: string,
    ): Promise<StateVersion> {
      requireAdmin(session, "roll back a stack's state");
      return rollbackAs(actorOf(session), stackId, versionId);
    },

    /** One version's metadata, or null. */
    async findVersion(
      stackId: string,
      versionId: string,
    ): Promise<StateVersion | null> {
      const v = await repo.findVersion(stackId, versionId);
      if (!v) return null;
      const { objectKey: _key, ...version } = v;
      return version;
    },

    /**
     * DELETE (admin only): the stack keeps its history but has no current state, so the
     * next write may start a new lineage. Refused while a live run holds the lock.
     */
    async deleteState(session: Session, stackId: string): Promise<void> {
      requireAdmin(session, "delete a stack's state");
      await db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, stackId);
        const lock = await loadLock(tx, stackId);
        if (lock && !lock.stale) throw lockedError(lock, "write");
        if (lock) await repo.deleteLock(tx, stackId);
        await repo.supersedeCurrent(tx, stackId, clock());
      });
      log.warn(
        { actor: `${session.kind}:${session.id}`, stackId },
        "deleted the current state (history kept)",
      );
    },

    /** History, newest first. */
    /** Newest first; `after` (a version id of this stack) pages to older versions. */
    async listVersions(
      stackId: string,
      opts: { limit?: number; after?: string | null } = {},
    ): Promise<StateVersion[]> {
      const after = opts.after
        ? await repo.findVersion(stackId, opts.after)
        : null;
      if (opts.after && !after)
        throw new StateVersionNotFoundError(stackId, opts.after);
      return repo.listVersions(
        stackId,
        Math.min(opts.limit ?? 100, 1000),
        undefined,
        after ?? null,
      );
    },

    async getCurrentVersion(stackId: string): Promise<StateVersion | null> {
      return (await repo.findCurrent(stackId)) ?? null;
    },

    /** A version's decrypted content (the state file as tofu wrote it). */
    async getVersionContent(
      stackId: string,
      versionId: string,
    ): Promise<Buffer> {
      const version = await repo.findVersion(stackId, versionId);
      if (!version) throw new StateVersionNotFoundError(stackId, versionId);
      return readObject(version.objectKey);
    },

    /**
     * Makes `content` (a state file a user uploaded) the stack's new current version, as
     * is: any lineage and serial are accepted, since an import deliberately replaces the
     * state. The caller has authorised `actor` (stack admin, stack locked); here the
     * content must parse as a state, the stack may have no unfinished runs, and no live
     * run may hold the state lock, judged in the stack's state transaction. Importing the
     * current bytes again creates no version. Audited at warn.
     */
    async importVersion(input: {
      stackId: string;
      content: Buffer;
      actor: string;
    }): Promise<{ version: StateVersion; created: boolean }> {
      const { stackId, content, actor } = input;
      const next = parseStateDocument(content);
      const newVersionId = newId();
      const objectKey = await uploadObject(stackId, newVersionId, content);
      const result = await db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, stackId);
        await requireNoPendingRuns(tx, stackId, "import a state");
        const lock = await loadLock(tx, stackId);
        if (lock && !lock.stale) throw lockedError(lock, "write");
        const current = await repo.findCurrent(stackId, tx);
        if (current && current.checksum === next.checksum)
          return { version: current, created: false };
        const version = await repo.insertCurrent(tx, {
          id: newVersionId,
          stackId,
          runId: null,
          serial: next.serial,
          lineage: next.lineage,
          checksum: next.checksum,
          size: next.size,
          objectKey,
          createdBy: actor,
          restoredFromId: null,
          now: clock(),
        });
        return { version, created: true, previous: current };
      });
      if (result.created)
        log.warn(
          {
            actor,
            stackId,
            versionId: result.version.id,
            serial: result.version.serial,
            lineage: result.version.lineage,
            previousLineage:
              "previous" in result ? (result.previous?.lineage ?? null) : null,
          },
          "imported state",
        );
      return { version: result.version, created: result.created };
    },

    /** Outputs of the current state; sensitive values are hidden (value null). */
    async outputs(stackId: string): Promise<StateOutput[]> {
      const current = await repo.currentObjectKey(stackId);
      if (!current) return [];
      return stateOutputs(
        parseStateDocument(await readObject(current.objectKey)).doc,
      );
    },
  };
}
