import { sql } from "kysely";
import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { nextState, type RunState } from "./run.ts";
import { pickRunnable, type QueuedRunCandidate } from "./run-order.ts";
import {
  disabledStackIds,
  findQueuedBlockingRunAhead,
  freeWorkers,
  lockPools,
  poolCapacities,
  queuedBlockingRuns,
  stacksWithActiveBlockingRun,
  type PoolCapacity,
  type QueuedRunRow,
} from "./run-queries.ts";
import { enqueueDispatch } from "./run-enqueue.ts";
import {
  findActiveBlockingRun,
  transitionRun,
  type RunRecord,
} from "./run-repo.ts";

/**
 * One scheduling pass: which QUEUED runs become READY now.
 *
 * The invariant: a run becomes READY only when a worker of its pool can take it, and a
 * stack never has two blocking runs past QUEUED at once. The pass runs in one
 * transaction:
 *
 * 1. It locks the QUEUED runs it may move (`FOR UPDATE SKIP LOCKED`). Rows another pass
 *    or a user action holds are skipped, never waited for.
 * 2. It row-locks the pools of those runs, in id order. Passes touching the same pool
 *    therefore run their accounting one after the other, and everything read after this
 *    point (statements under READ COMMITTED) sees the earlier pass's committed READY runs:
 *    the idle-worker count minus READY/CONFIRMED/REPLAN_REQUESTED runs cannot be spent
 *    twice.
 * 3. It reads the snapshot (stacks whose lock is held, disabled stacks, free workers per
 *    pool) and every QUEUED blocking run of the stacks involved. Runs it could not lock
 *    still count as their stack's FIFO head, marked `held`, so skipping a locked head
 *    never lets a younger run of the same stack overtake it.
 * 4. `pickRunnable` decides; the picked runs move QUEUED → READY with compare-and-set, in
 *    stack-id order.
 *
 * The database has the last word on the stack lock: the partial unique index
 * `runs_one_active_blocking_per_stack` admits one blocking run per stack past QUEUED.
 * Passes whose runs of one stack sit in different pools (the stack's pool changed) do
 * not serialize in step 2, and may both try; the loser's UPDATE waits for the winner's
 * commit and then fails with a unique violation. Each transition runs under a
 * savepoint, so the loser rolls back just that run, which stays QUEUED (never failed),
 * and carries on. Taking the index entries in stack-id order keeps such waits acyclic.
 * When the winning run ends, its terminal transition enqueues the next pass.
 */
export interface SchedulePassResult {
  /** Runs moved to READY, in scheduling order. */
  ready: string[];
  /** Runs picked but left QUEUED because another pass took their stack's lock first. */
  lostRaces: string[];
  /** The pass hit its batch limit; call again for the rest. */
  more: boolean;
}

const BATCH = 500;
const STACK_LOCK_INDEX = "runs_one_active_blocking_per_stack";

interface Candidate extends QueuedRunCandidate {
  readonly row: QueuedRunRow;
}

function toCandidate(row: QueuedRunRow, held: boolean): Candidate {
  return {
    id: row.id,
    stackId: row.stack_id,
    type: row.type,
    isDrift: row.drift_detection,
    prioritized: row.prioritized,
    createdAt: row.created_at,
    workerPoolId: row.worker_pool_id ?? "",
    held: held || row.needs_approval || row.worker_pool_id === null,
    row,
  };
}

function isStackLockViolation(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === "23505" && e.constraint === STACK_LOCK_INDEX;
}

export function createRunScheduler(deps: {
  db: Database;
  clock: () => Date;
  log: Logger;
}) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "runs", component: "scheduling" });

  async function schedule(): Promise<SchedulePassResult> {
    const result = await db.transaction().execute(async (tx) => {
      const locked = await tx
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
        .where("state", "=", "QUEUED")
        .orderBy("prioritized", "desc")
        .orderBy("created_at")
        .orderBy("id")
        .limit(BATCH)
        .forUpdate()
        .skipLocked()
        .execute();
      const empty: SchedulePassResult = {
        ready: [],
        lostRaces: [],
        more: false,
      };
      if (locked.length === 0) return empty;

      const poolIds = unique(locked.flatMap((r) => r.worker_pool_id ?? []));
      await lockPools(tx, poolIds);

      const stackIds = unique(locked.map((r) => r.stack_id));
      const disabled = await disabledStackIds(tx, stackIds);
      const active = await stacksWithActiveBlockingRun(tx, stackIds);
      const capacity = await poolCapacities(tx, poolIds);
      const lockedIds = new Set(locked.map((r) => r.id));
      const others = (await queuedBlockingRuns(tx, stackIds)).filter(
        (r) => !lockedIds.has(r.id),
      );

      const candidates = [
        ...locked.map((r) => toCandidate(r, disabled.has(r.stack_id))),
        ...others.map((r) => toCandidate(r, true)),
      ];
      const idleWorkersByPool = new Map(
        poolIds.map((id) => [id, freeWorkers(capacity.get(id))]),
      );
      const picked = pickRunnable(candidates, {
        stacksWithActiveBlockingRun: active,
        idleWorkersByPool,
      }).filter((c) => lockedIds.has(c.id));

      const ready: string[] = [];
      const lostRaces: string[] = [];
      const now = clock();
      const inLockOrder = [...picked].sort((a, b) =>
        a.stackId === b.stackId
          ? compareIds(a.id, b.id)
          : compareIds(a.stackId, b.stackId),
      );
      for (const run of inLockOrder) {
        const to = nextState(
          {
            id: run.id,
            type: run.type,
            state: "QUEUED",
            awaitingApproval: run.row.needs_approval,
          },
          { type: "ready" },
        );
        await sql`savepoint run_ready`.execute(tx);
        try {
          await transitionRun(tx, {
            runId: run.id,
            expectedStateVersion: run.row.state_version,
            to,
            actor: null,
            note: `A worker of pool ${run.workerPoolId} is free; waiting for it to take the run`,
            now,
          });
          await sql`release savepoint run_ready`.execute(tx);
          ready.push(run.id);
        } catch (err) {
          await sql`rollback to savepoint run_ready`.execute(tx);
          if (!isStackLockViolation(err)) throw err;
          lostRaces.push(run.id);
        }
      }
      // The READY runs and the job that hands them to workers commit together.
      if (ready.length > 0) await enqueueDispatch(tx);
      const order = new Map(picked.map((c, i) => [c.id, i]));
      ready.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
      return { ready, lostRaces, more: locked.length === BATCH };
    });
    if (result.ready.length > 0 || result.lostRaces.length > 0) {
      log.info(result, "scheduling pass");
    }
    return result;
  }

  /**
   * Why a QUEUED or READY run is still waiting, in words a user can act on; null for any
   * other state. Computed on read from the same facts the pass uses, so it is never
   * stale. Shown as the note of the run's newest history entry (see RunService.history).
   */
  async function waitingReason(run: RunRecord): Promise<string | null> {
    if (run.state !== "QUEUED" && run.state !== "READY") return null;
    const poolIds = run.workerPoolId ? [run.workerPoolId] : [];
    const capacity = run.workerPoolId
      ? (await poolCapacities(db, poolIds)).get(run.workerPoolId)
      : undefined;
    if (run.state === "READY") {
      return describeWaiting({ state: "READY", pool: capacity ?? null });
    }
    const disabled = (await disabledStackIds(db, [run.stackId])).has(
      run.stackId,
    );
    const holder = run.blocking
      ? await findActiveBlockingRun(db, run.stackId)
      : null;
    const ahead =
      run.blocking && !holder
        ? await findQueuedBlockingRunAhead(db, run)
        : null;
    return describeWaiting({
      state: "QUEUED",
      stackDisabled: disabled,
      needsApproval: run.needsApproval,
      lockHolder: holder ? { id: holder.id, state: holder.state } : null,
      queuedAhead: ahead,
      pool: capacity ?? null,
    });
  }

  return { schedule, waitingReason };
}

export type RunScheduler = ReturnType<typeof createRunScheduler>;

export type WaitingFacts =
  | { state: "READY"; pool: PoolCapacity | null }
  | {
      state: "QUEUED";
      stackDisabled: boolean;
      needsApproval: boolean;
      lockHolder: { id: string; state: RunState } | null;
      queuedAhead: { id: string } | null;
      pool: PoolCapacity | null;
    };

/** The first reason, in the order the scheduler applies its rules. */
export function describeWaiting(facts: WaitingFacts): string {
  const pool = facts.pool;
  const poolName = pool ? `pool "${pool.name}" (${pool.poolId})` : "its pool";
  if (facts.state === "READY") {
    return `a worker of ${poolName} is reserved; waiting for it to take the run`;
  }
  if (facts.stackDisabled)
    return "the stack is disabled; enable it, or cancel this run";
  if (facts.needsApproval) return "waiting for an approval";
  if (!pool) return "the run has no worker pool";
  if (facts.lockHolder) {
    return `waiting for run ${facts.lockHolder.id} (${facts.lockHolder.state}) to finish on this stack`;
  }
  if (facts.queuedAhead) {
    return `waiting behind run ${facts.queuedAhead.id}, queued earlier on this stack`;
  }
  if (pool.live === 0) return `no worker of ${poolName} is connected`;
  if (freeWorkers(pool) === 0) {
    return `no idle worker in ${poolName}: ${pool.live} connected, ${pool.busy} busy, ${pool.drained} drained, ${pool.reserved} reserved for runs about to start`;
  }
  return `an idle worker of ${poolName} is available; the next scheduling pass starts the run unless runs ahead of it take the worker`;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
