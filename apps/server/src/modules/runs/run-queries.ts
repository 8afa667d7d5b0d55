import type { Database } from "../../platform/db/index.ts";
import {
  AWAITING_WORKER_STATES,
  NOT_HOLDING_LOCK_STATES,
  NOT_STARTED_STATES,
} from "../run-status/index.ts";

/**
 * Read-only queries over other modules' tables that scheduling needs: `stacks`
 * (is_disabled), `worker_pools` (default pool, names, the per-pool scheduling lock) and
 * `workers` (idle capacity). Reads only; the owning modules stay the only writers
 * (docs/architecture.md: reads may join other modules' tables in a dedicated query file).
 */

export async function findDefaultPoolId(db: Database): Promise<string | null> {
  const row = await db
    .selectFrom("worker_pools")
    .select("id")
    .where("is_default", "=", true)
    .executeTakeFirst();
  return row?.id ?? null;
}

/**
 * Row-locks the pools (FOR NO KEY UPDATE, in id order, so two schedulers never wait on
 * each other in a cycle) for the rest of the transaction. NO KEY UPDATE does not block
 * inserts of rows referencing the pools (foreign keys take KEY SHARE).
 */
export async function lockPools(
  db: Database,
  poolIds: readonly string[],
): Promise<void> {
  if (poolIds.length === 0) return;
  await db
    .selectFrom("worker_pools")
    .select("id")
    .where("id", "in", [...poolIds])
    .orderBy("id")
    .forNoKeyUpdate()
    .execute();
}

export interface PoolCapacity {
  poolId: string;
  name: string;
  /** Live workers (not GONE). */
  live: number;
  /** Live, IDLE, not drained and holding no run. */
  idle: number;
  busy: number;
  drained: number;
  /** Runs in AWAITING_WORKER_STATES (each has reserved one of the idle workers). */
  reserved: number;
}

export async function poolCapacities(
  db: Database,
  poolIds: readonly string[],
): Promise<Map<string, PoolCapacity>> {
  if (poolIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("worker_pools as p")
    .select((eb) => [
      "p.id",
      "p.name",
      eb
        .selectFrom("workers as w")
        .select(eb.fn.countAll<number>().as("n"))
        .whereRef("w.worker_pool_id", "=", "p.id")
        .where("w.status", "<>", "GONE")
        .as("live"),
      eb
        .selectFrom("workers as w")
        .select(eb.fn.countAll<number>().as("n"))
        .whereRef("w.worker_pool_id", "=", "p.id")
        .where("w.status", "=", "IDLE")
        .where("w.drained", "=", false)
        .where("w.current_run_id", "is", null)
        .as("idle"),
      eb
        .selectFrom("workers as w")
        .select(eb.fn.countAll<number>().as("n"))
        .whereRef("w.worker_pool_id", "=", "p.id")
        .where("w.status", "=", "BUSY")
        .as("busy"),
      eb
        .selectFrom("workers as w")
        .select(eb.fn.countAll<number>().as("n"))
        .whereRef("w.worker_pool_id", "=", "p.id")
        .where("w.status", "<>", "GONE")
        .where("w.drained", "=", true)
        .as("drained"),
      eb
        .selectFrom("runs as r")
        .select(eb.fn.countAll<number>().as("n"))
        .whereRef("r.worker_pool_id", "=", "p.id")
        .where("r.state", "in", AWAITING_WORKER_STATES)
        .as("reserved"),
    ])
    .where("p.id", "in", [...poolIds])
    .execute();
  return new Map(
    rows.map((r) => [
      r.id,
      {
        poolId: r.id,
        name: r.name,
        live: Number(r.live ?? 0),
        idle: Number(r.idle ?? 0),
        busy: Number(r.busy ?? 0),
        drained: Number(r.drained ?? 0),
        reserved: Number(r.reserved ?? 0),
      },
    ]),
  );
}

/** Idle workers left for QUEUED runs: idle minus those already reserved, never negative. */
export function freeWorkers(capacity: PoolCapacity | undefined): number {
  if (!capacity) return 0;
  return Math.max(0, capacity.idle - capacity.reserved);
}

export async function disabledStackIds(
  db: Database,
  stackIds: readonly string[],
): Promise<Set<string>> {
  if (stackIds.length === 0) return new Set();
  const rows = await db
    .selectFrom("stacks")
    .select("id")
    .where("id", "in", [...stackIds])
    .where("is_disabled", "=", true)
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Stacks among `stackIds` with a blocking run holding their lock (`holdsStackLock`). */
export async function stacksWithActiveBlockingRun(
  db: Database,
  stackIds: readonly string[],
): Promise<Set<string>> {
  if (stackIds.length === 0) return new Set();
  const rows = await db
    .selectFrom("runs")
    .select("stack_id")
    .distinct()
    .where("stack_id", "in", [...stackIds])
    .where("blocking", "=", true)
    .where("state", "not in", NOT_HOLDING_LOCK_STATES)
    .execute();
  return new Set(rows.map((r) => r.stack_id));
}

export interface QueuedRunRow {
  id: string;
  stack_id: string;
  type: "TRACKED" | "PROPOSED" | "TASK" | "DESTROY";
  drift_detection: boolean;
  prioritized: boolean;
  created_at: Date;
  worker_pool_id: string | null;
  needs_approval: boolean;
  state_version: number;
}

/** Every QUEUED blocking run of the stacks, locked or not (for the per-stack FIFO heads). */
export async function queuedBlockingRuns(
  db: Database,
  stackIds: readonly string[],
): Promise<QueuedRunRow[]> {
  if (stackIds.length === 0) return [];
  return db
    .selectFrom("runs")
    .select([
      "id",
      "stack_id",
      "type",
      "drift_detection",
      "prioritized",
      "created_at",
      "worker_pool_id",
      "needs_approval",
      "state_version",
    ])
    .where("stack_id", "in", [...stackIds])
    .where("state", "=", "QUEUED")
    .where("blocking", "=", true)
    .execute();
}

/** The oldest QUEUED blocking run of the stack created before `run` (FIFO order), if any. */
export async function findQueuedBlockingRunAhead(
  db: Database,
  run: { id: string; stackId: string; createdAt: Date },
): Promise<{ id: string } | null> {
  const row = await db
    .selectFrom("runs")
    .select("id")
    .where("stack_id", "=", run.stackId)
    .where("state", "=", "QUEUED")
    .where("blocking", "=", true)
    .where("id", "<>", run.id)
    .where((eb) =>
      eb(eb.refTuple("created_at", "id"), "<", eb.tuple(run.createdAt, run.id)),
    )
    .orderBy("created_at")
    .orderBy("id")
    .limit(1)
    .executeTakeFirst();
  return row ?? null;
}

/** QUEUED and READY runs per pool (GraphQL `WorkerPool.pendingRuns`). */
export async function countPendingRuns(
  db: Database,
  poolId: string,
): Promise<number> {
  const row = await db
    .selectFrom("runs")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("worker_pool_id", "=", poolId)
    .where("state", "in", NOT_STARTED_STATES)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The pool's public key (PEM) that secrets in `run.assign` are sealed to; null when the
 * pool does not exist or predates pool keys.
 */
export async function findPoolPublicKey(
  db: Database,
  poolId: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("worker_pools")
    .select("public_key")
    .where("id", "=", poolId)
    .executeTakeFirst();
  return row?.public_key ?? null;
}

/**
 * Workers still holding a run that ended before `endedBefore` (a stopped run whose worker
 * never reported back), so the reconciler can free them. At most `limit`.
 */
export async function workersHoldingEndedRuns(
  db: Database,
  endedBefore: Date,
  limit: number,
): Promise<{ workerId: string; runId: string }[]> {
  const rows = await db
    .selectFrom("workers as w")
    .innerJoin("runs as r", "r.id", "w.current_run_id")
    .select(["w.id as worker_id", "r.id as run_id"])
    .where("r.finished_at", "<", endedBefore)
    .orderBy("w.id")
    .limit(limit)
    .execute();
  return rows.map((r) => ({ workerId: r.worker_id, runId: r.run_id }));
}
