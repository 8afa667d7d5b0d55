import { sql, type Kysely, type Selectable } from "kysely";
import type {
  Database,
  DB,
  StateLocksTable,
  StateVersionsTable,
} from "../../platform/db/index.ts";
import type { StateLock, StateVersion } from "./state.ts";

type Q = Kysely<DB>;
type VersionRow = Selectable<StateVersionsTable>;
type LockRow = Selectable<StateLocksTable>;

export function toStateVersion(row: VersionRow): StateVersion {
  return {
    id: row.id,
    stackId: row.stack_id,
    runId: row.run_id,
    serial: row.serial,
    lineage: row.lineage,
    checksum: row.checksum,
    size: row.size,
    isCurrent: row.is_current,
    createdAt: row.created_at,
    createdBy: row.created_by,
    restoredFromId: row.restored_from_id,
  };
}

function toStateLock(row: LockRow): StateLock {
  return {
    stackId: row.stack_id,
    lockId: row.lock_id,
    runId: row.run_id,
    info: row.info,
    createdAt: row.created_at,
  };
}

/**
 * Kysely queries on `state_versions` and `state_locks`; the only writer of both tables.
 * Functions that take `q` run on the caller's transaction.
 */
export function createStateRepo(db: Database) {
  return {
    /**
     * Serializes every state mutation of one stack (write, lock, unlock, rollback, delete)
     * until the transaction ends. An advisory lock rather than a row lock because the
     * first version and the first lock have no row to lock yet.
     */
    async lockStack(q: Q, stackId: string): Promise<void> {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`stackyard:state:${stackId}`}, 0))`.execute(
        q,
      );
    },

    async findCurrent(
      stackId: string,
      q: Q = db,
    ): Promise<StateVersion | undefined> {
      const row = await q
        .selectFrom("state_versions")
        .selectAll()
        .where("stack_id", "=", stackId)
        .where("is_current", "=", true)
        .executeTakeFirst();
      return row && toStateVersion(row);
    },

    async findVersion(
      stackId: string,
      versionId: string,
      q: Q = db,
    ): Promise<(StateVersion & { objectKey: string }) | undefined> {
      const row = await q
        .selectFrom("state_versions")
        .selectAll()
        .where("stack_id", "=", stackId)
        .where("id", "=", versionId)
        .executeTakeFirst();
      return row && { ...toStateVersion(row), objectKey: row.object_key };
    },

    async currentObjectKey(
      stackId: string,
      q: Q = db,
    ): Promise<{ id: string; objectKey: string } | undefined> {
      const row = await q
        .selectFrom("state_versions")
        .select(["id", "object_key"])
        .where("stack_id", "=", stackId)
        .where("is_current", "=", true)
        .executeTakeFirst();
      return row && { id: row.id, objectKey: row.object_key };
    },

    /** Newest first; with `after`, only versions older than it (keyset paging). */
    async listVersions(
      stackId: string,
      limit: number,
      q: Q = db,
      after: Pick<StateVersion, "id" | "createdAt"> | null = null,
    ): Promise<StateVersion[]> {
      let query = q
        .selectFrom("state_versions")
        .selectAll()
        .where("stack_id", "=", stackId);
      if (after)
        query = query.where((eb) =>
          eb.or([
            eb("created_at", "<", after.createdAt),
            eb.and([
              eb("created_at", "=", after.createdAt),
              eb("id", "<", after.id),
            ]),
          ]),
        );
      const rows = await query
        .orderBy("created_at", "desc")
        .orderBy("id", "desc")
        .limit(limit)
        .execute();
      return rows.map(toStateVersion);
    },

    /**
     * Makes a new version current in the caller's transaction: the old current version is
     * superseded first, so the partial unique index (one current per stack) holds at
     * every statement.
     */
    async insertCurrent(
      q: Q,
      row: {
        id: string;
        stackId: string;
        runId: string | null;
        serial: number;
        lineage: string;
        checksum: string;
        size: number;
        objectKey: string;
        createdBy: string | null;
        restoredFromId: string | null;
        now: Date;
      },
    ): Promise<StateVersion> {
      await q
        .updateTable("state_versions")
        .set({ is_current: false, superseded_at: row.now })
        .where("stack_id", "=", row.stackId)
        .where("is_current", "=", true)
        .execute();
      const inserted = await q
        .insertInto("state_versions")
        .values({
          id: row.id,
          stack_id: row.stackId,
          run_id: row.runId,
          serial: row.serial,
          lineage: row.lineage,
          checksum: row.checksum,
          size: row.size,
          object_key: row.objectKey,
          is_current: true,
          created_by: row.createdBy,
          restored_from_id: row.restoredFromId,
          created_at: row.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toStateVersion(inserted);
    },

    /** Leaves the stack without a current version (history is kept). */
    async supersedeCurrent(q: Q, stackId: string, now: Date): Promise<number> {
      const res = await q
        .updateTable("state_versions")
        .set({ is_current: false, superseded_at: now })
        .where("stack_id", "=", stackId)
        .where("is_current", "=", true)
        .executeTakeFirst();
      return Number(res.numUpdatedRows);
    },

    async findLock(stackId: string, q: Q = db): Promise<StateLock | undefined> {
      const row = await q
        .selectFrom("state_locks")
        .selectAll()
        .where("stack_id", "=", stackId)
        .executeTakeFirst();
      return row && toStateLock(row);
    },

    /** Takes the lock, replacing a stale holder's row if there is one. */
    async putLock(
      q: Q,
      lock: {
        stackId: string;
        lockId: string;
        runId: string;
        info: Record<string, unknown>;
        now: Date;
      },
    ): Promise<void> {
      const values = {
        stack_id: lock.stackId,
        lock_id: lock.lockId,
        run_id: lock.runId,
        info: JSON.stringify(lock.info),
        created_at: lock.now,
      };
      await q
        .insertInto("state_locks")
        .values(values)
        .onConflict((oc) =>
          oc.column("stack_id").doUpdateSet({
            lock_id: values.lock_id,
            run_id: values.run_id,
            info: values.info,
            created_at: values.created_at,
          }),
        )
        .execute();
    },

    async deleteLock(q: Q, stackId: string): Promise<StateLock | undefined> {
      const row = await q
        .deleteFrom("state_locks")
        .where("stack_id", "=", stackId)
        .returningAll()
        .executeTakeFirst();
      return row && toStateLock(row);
    },

    /**
     * Deletes up to `limit` versions superseded before `before` and returns their object
     * keys, for the caller to delete after the rows are gone. Current versions have no
     * superseded_at, so they are never selected.
     */
    async deleteSupersededBefore(
      before: Date,
      limit: number,
    ): Promise<Array<{ id: string; objectKey: string }>> {
      const rows = await db
        .deleteFrom("state_versions")
        .where(
          "id",
          "in",
          db
            .selectFrom("state_versions")
            .select("id")
            .where("is_current", "=", false)
            .where("superseded_at", "<", before)
            .orderBy("superseded_at")
            .limit(limit),
        )
        .where("is_current", "=", false)
        .returning(["id", "object_key"])
        .execute();
      return rows.map((r) => ({ id: r.id, objectKey: r.object_key }));
    },

    /** The subset of `keys` some version row points to. */
    async referencedObjectKeys(keys: string[]): Promise<Set<string>> {
      if (keys.length === 0) return new Set();
      const rows = await db
        .selectFrom("state_versions")
        .select("object_key")
        .where("object_key", "in", keys)
        .execute();
      return new Set(rows.map((r) => r.object_key));
    },
  };
}

export type StateRepo = ReturnType<typeof createStateRepo>;
