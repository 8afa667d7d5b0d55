import { sql, type Selectable } from "kysely";
import type {
  Database,
  WorkerStatus,
  WorkersTable,
} from "../../platform/db/index.ts";
import type { Worker } from "./worker.ts";

/**
 * The only writer of `workers`. Every function is one statement, so callers may pass a
 * transaction or the plain handle.
 *
 * Heartbeats race with expiry (`markWorkersGone`) on the same row. Both are single
 * UPDATEs with their condition in the WHERE clause; Postgres re-checks the WHERE of the
 * second against the row the first committed (READ COMMITTED), so either the heartbeat
 * lands first and expiry skips the fresh row, or expiry lands first and the heartbeat
 * finds GONE and reports that the worker must re-register. A GONE worker never flips
 * back to live except through `upsertRegisteredWorker`.
 */

function toWorker(row: Selectable<WorkersTable>): Worker {
  return {
    id: row.id,
    poolId: row.worker_pool_id,
    status: row.status,
    drained: row.drained,
    metadata: row.metadata,
    version: row.version,
    registeredAt: row.registered_at,
    lastHeartbeatAt: row.last_heartbeat_at,
    goneAt: row.gone_at,
    goneReason: row.gone_reason,
    currentRunId: row.current_run_id,
  };
}

/**
 * Inserts or revives a worker on `worker.register`: live again, fresh heartbeat, gone
 * fields cleared. The operator's `drained` flag survives re-registration, and the status
 * starts as DRAINED when it is set, or BUSY when the worker says it still executes a run
 * (then it holds no run here, and dispatch skips it until a heartbeat reports it free). Returns null (and changes nothing) when the id
 * already belongs to another pool: a pool's credential must not take over another
 * pool's worker.
 */
export async function upsertRegisteredWorker(
  db: Database,
  w: {
    id: string;
    poolId: string;
    metadata: Record<string, string>;
    version: string;
    now: Date;
    busy?: boolean;
  },
): Promise<Worker | null> {
  const row = await db
    .insertInto("workers")
    .values({
      id: w.id,
      worker_pool_id: w.poolId,
      status: w.busy ? "BUSY" : "IDLE",
      metadata: JSON.stringify(w.metadata),
      version: w.version,
      registered_at: w.now,
      last_heartbeat_at: w.now,
    })
    .onConflict((oc) =>
      oc
        .column("id")
        .doUpdateSet({
          status: w.busy
            ? sql<"BUSY">`'BUSY'`
            : sql<
                "IDLE" | "DRAINED"
              >`case when workers.drained then 'DRAINED' else 'IDLE' end`,
          metadata: (eb) => eb.ref("excluded.metadata"),
          version: (eb) => eb.ref("excluded.version"),
          registered_at: (eb) => eb.ref("excluded.registered_at"),
          last_heartbeat_at: (eb) => eb.ref("excluded.last_heartbeat_at"),
          gone_at: null,
          gone_reason: null,
        })
        .where("workers.worker_pool_id", "=", w.poolId),
    )
    .returningAll()
    .executeTakeFirst();
  return row ? toWorker(row) : null;
}

/**
 * Records a heartbeat at the server's time `now`. Returns the operator's drained flag,
 * or null when the worker is unknown or GONE: it must re-register.
 */
export async function recordHeartbeat(
  db: Database,
  hb: {
    id: string;
    poolId: string;
    status: "IDLE" | "BUSY" | "DRAINED";
    now: Date;
  },
): Promise<{ drained: boolean } | null> {
  const row = await db
    .updateTable("workers")
    .set({ status: hb.status, last_heartbeat_at: hb.now })
    .where("id", "=", hb.id)
    .where("worker_pool_id", "=", hb.poolId)
    .where("status", "<>", "GONE")
    .returning("drained")
    .executeTakeFirst();
  return row ?? null;
}

/** Marks every live worker whose last heartbeat is before `olderThan` as GONE; returns their ids. */
export async function markWorkersGone(
  db: Database,
  opts: { olderThan: Date; reason: string; now: Date },
): Promise<string[]> {
  const rows = await db
    .updateTable("workers")
    .set({ status: "GONE", gone_at: opts.now, gone_reason: opts.reason })
    .where("status", "<>", "GONE")
    .where("last_heartbeat_at", "<", opts.olderThan)
    .returning("id")
    .execute();
  return rows.map((r) => r.id);
}

/** Marks one live worker GONE (it unregistered); false when unknown or already GONE. */
export async function markWorkerGone(
  db: Database,
  w: { id: string; poolId: string; reason: string; now: Date },
): Promise<boolean> {
  const res = await db
    .updateTable("workers")
    .set({ status: "GONE", gone_at: w.now, gone_reason: w.reason })
    .where("id", "=", w.id)
    .where("worker_pool_id", "=", w.poolId)
    .where("status", "<>", "GONE")
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function listWorkersByPool(
  db: Database,
  poolId: string,
  opts: { includeGone?: boolean } = {},
): Promise<Worker[]> {
  let q = db
    .selectFrom("workers")
    .selectAll()
    .where("worker_pool_id", "=", poolId);
  if (!opts.includeGone) q = q.where("status", "<>", "GONE");
  const rows = await q.orderBy("id").execute();
  return rows.map(toWorker);
}

/**
 * Sets the operator's drained flag. An idle worker's status follows at once (IDLE ↔
 * DRAINED) so listings are right before the worker's next heartbeat confirms it; BUSY
 * and GONE are left alone. Null when the worker does not exist in the pool.
 */
export async function setWorkerDrained(
  db: Database,
  w: { id: string; poolId: string; drained: boolean },
): Promise<Worker | null> {
  const row = await db
    .updateTable("workers")
    .set({
      drained: w.drained,
      status: w.drained
        ? sql<"DRAINED">`case when status = 'IDLE' then 'DRAINED' else status end`
        : sql<"IDLE">`case when status = 'DRAINED' then 'IDLE' else status end`,
    })
    .where("id", "=", w.id)
    .where("worker_pool_id", "=", w.poolId)
    .returningAll()
    .executeTakeFirst();
  return row ? toWorker(row) : null;
}

/**
 * Takes one live, IDLE, undrained worker of the pool that holds no run, for `runId`:
 * sets it BUSY with `current_run_id`. The candidate row is locked with FOR UPDATE SKIP
 * LOCKED, so two dispatchers racing for the same pool never take the same worker: the
 * second one skips the locked row and takes another, or none. Call it inside the
 * transaction that moves the run, so the run and the worker change together or not at
 * all. Returns null when no worker is free.
 */
export async function claimIdleWorker(
  db: Database,
  poolId: string,
  runId: string,
): Promise<{ id: string } | null> {
  const row = await db
    .updateTable("workers")
    .set({ status: "BUSY", current_run_id: runId })
    .where(
      "id",
      "=",
      db
        .selectFrom("workers")
        .select("id")
        .where("worker_pool_id", "=", poolId)
        .where("status", "=", "IDLE")
        .where("drained", "=", false)
        .where("current_run_id", "is", null)
        .orderBy("last_heartbeat_at", "desc")
        .orderBy("id")
        .limit(1)
        .forUpdate()
        .skipLocked(),
    )
    .returning("id")
    .executeTakeFirst();
  return row ?? null;
}

/**
 * Frees a worker from `runId` (and only from it: a worker that already holds another run
 * is left alone). A BUSY worker goes back to IDLE, or DRAINED when the operator drained
 * it; a GONE worker stays GONE. Returns whether the worker held the run.
 */
export async function releaseWorker(
  db: Database,
  workerId: string,
  runId: string,
): Promise<boolean> {
  const res = await db
    .updateTable("workers")
    .set({
      current_run_id: null,
      status: sql<WorkerStatus>`case when status = 'BUSY' then (case when drained then 'DRAINED' else 'IDLE' end) else status end`,
    })
    .where("id", "=", workerId)
    .where("current_run_id", "=", runId)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}
