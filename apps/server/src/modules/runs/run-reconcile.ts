import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import {
  WORKER_HELD_STATES,
  isAwaitingPickup,
  type RunState,
} from "../run-status/index.ts";
import { nextState } from "./run.ts";
import { RunVersionConflictError } from "./run-errors.ts";
import type { WorkerSlots } from "./run-dispatch.ts";
import { enqueueDispatch, enqueueSchedulePass } from "./run-enqueue.ts";
import { workersHoldingEndedRuns } from "./run-queries.ts";
import { transitionRun } from "./run-repo.ts";

/**
 * The reconciler ends runs nobody will ever finish (peers' worst bug class: runs stuck
 * forever, locks that never clear). It looks only at runs a worker holds
 * (`isWorkerHeld`: PREPARING … APPLYING) and fails each one that
 * - has no worker, or whose worker row is GONE or missing ("worker lost"),
 * - was taken by a worker longer ago than the maximum run duration, or
 * - was handed to a worker (PREPARING, PREPARING_APPLY, PREPARING_REPLAN) and got no
 *   report from it for the pickup timeout (60 s): the `run.assign` was lost (broker
 *   down at publish time, worker gone in between), or
 * - shows no activity (`last_activity_at`: transitions, log chunks, workspace
 *   transfers) for longer than the silence timeout.
 * The reason goes into the FAILED transition's note and `failure_reason`.
 *
 * Each run is failed in its own transaction as a compare-and-set on the state_version it
 * was read at, so a run that moved on meanwhile (the worker reported just in time, a
 * user stopped it) is left alone; the next pass looks again. Failing is terminal, which
 * frees the stack lock and the worker, so the same transaction frees the worker
 * (`releaseWorker`) and enqueues a scheduling and a dispatch pass. Runs waiting
 * for a person (UNCONFIRMED) or for the queue are never failed here: they have user
 * exits (discard, cancel) and their waiting reason says why they wait.
 */
export interface ReconcileLimits {
  maxDurationSeconds: number;
  logSilenceTimeoutSeconds: number;
  /** A run handed to a worker fails when the worker has not reported within this; default 60. */
  pickupTimeoutSeconds?: number;
}

export const DEFAULT_PICKUP_TIMEOUT_SECONDS = 60;

/** A worker that still holds a run ended this long ago is freed (it never reported back). */
const STALE_HOLD_MS = 60_000;
const STALE_HOLD_BATCH = 100;

export interface StuckRunFacts {
  workerId: string | null;
  /** null when the run names a worker that has no row. */
  workerStatus: string | null;
  workerGoneReason: string | null;
  startedAt: Date | null;
  lastActivityAt: Date | null;
  updatedAt: Date;
  /** The run's state; the pickup timeout applies to PREPARING* only. */
  state?: string;
}

/** Why a worker-held run must fail now, or null. Pure; the first matching rule wins. */
export function stuckReason(
  run: StuckRunFacts,
  now: Date,
  limits: ReconcileLimits,
): string | null {
  if (run.workerId === null) return "no worker holds the run";
  if (run.workerStatus === null)
    return `worker ${run.workerId} no longer exists`;
  if (run.workerStatus === "GONE") {
    return `worker ${run.workerId} is gone${run.workerGoneReason ? ` (${run.workerGoneReason})` : ""}`;
  }
  const pickup = limits.pickupTimeoutSeconds ?? DEFAULT_PICKUP_TIMEOUT_SECONDS;
  // Picked up = any report since the hand-over (the transition sets both clocks; a log
  // chunk or workspace transfer moves last_activity_at on). A replan stays in
  // PREPARING_REPLAN through checkout and init, so once its worker has reported, the
  // silence timeout below governs it, as it governs INITIALIZING.
  const reportedSinceHandover =
    run.lastActivityAt !== null &&
    run.lastActivityAt.getTime() > run.updatedAt.getTime();
  if (
    run.state !== undefined &&
    isAwaitingPickup(run.state) &&
    !reportedSinceHandover &&
    now.getTime() - run.updatedAt.getTime() > pickup * 1000
  ) {
    return `the worker did not pick up the run (no report from worker ${run.workerId} within ${pickup} s of the hand-over)`;
  }
  const started = run.startedAt ?? run.updatedAt;
  if (now.getTime() - started.getTime() > limits.maxDurationSeconds * 1000) {
    return `the run exceeded the maximum run duration of ${limits.maxDurationSeconds} s`;
  }
  const active = run.lastActivityAt ?? started;
  if (
    now.getTime() - active.getTime() >
    limits.logSilenceTimeoutSeconds * 1000
  ) {
    return `no activity from the worker for more than ${limits.logSilenceTimeoutSeconds} s`;
  }
  return null;
}

export function createRunReconciler(
  deps: {
    db: Database;
    clock: () => Date;
    log: Logger;
    /** Frees the worker of a failed run; without it (tests of the rules) workers are left alone. */
    workerSlots?: Pick<WorkerSlots, "releaseWorker">;
  } & ReconcileLimits,
) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "runs", component: "reconcile" });

  async function fail(
    run: {
      id: string;
      type: string;
      state: string;
      stateVersion: number;
      worker_id: string | null;
    },
    reason: string,
    now: Date,
  ): Promise<boolean> {
    const to = nextState(
      {
        id: run.id,
        type: run.type as never,
        state: run.state as RunState,
      },
      { type: "failed", reason },
    );
    try {
      await db.transaction().execute(async (tx) => {
        await transitionRun(tx, {
          runId: run.id,
          expectedStateVersion: run.stateVersion,
          to,
          actor: null,
          note: `Failed: ${reason}`,
          failureReason: reason,
          now,
        });
        if (run.worker_id)
          await deps.workerSlots?.releaseWorker(tx, run.worker_id, run.id);
        await enqueueSchedulePass(tx);
        await enqueueDispatch(tx);
      });
      log.warn({ runId: run.id, reason }, "failed a stuck run");
      return true;
    } catch (err) {
      if (err instanceof RunVersionConflictError) return false;
      throw err;
    }
  }

  async function heldRuns(workerIds?: readonly string[]) {
    let q = db
      .selectFrom("runs as r")
      .leftJoin("workers as w", "w.id", "r.worker_id")
      .select([
        "r.id",
        "r.type",
        "r.state",
        "r.state_version",
        "r.worker_id",
        "r.started_at",
        "r.last_activity_at",
        "r.updated_at",
        "w.id as w_id",
        "w.status as w_status",
        "w.gone_reason as w_gone_reason",
      ])
      .where("r.state", "in", WORKER_HELD_STATES);
    if (workerIds) q = q.where("r.worker_id", "in", [...workerIds]);
    return q.orderBy("r.created_at").execute();
  }

  /** Frees workers still holding runs that ended a while ago (stopped, never reported back). */
  async function releaseStaleHolds(now: Date): Promise<void> {
    const slots = deps.workerSlots;
    if (!slots) return;
    const stale = await workersHoldingEndedRuns(
      db,
      new Date(now.getTime() - STALE_HOLD_MS),
      STALE_HOLD_BATCH,
    );
    if (stale.length === 0) return;
    await db.transaction().execute(async (tx) => {
      for (const hold of stale)
        await slots.releaseWorker(tx, hold.workerId, hold.runId);
      await enqueueDispatch(tx);
    });
    log.info({ workers: stale }, "freed workers holding ended runs");
  }

  return {
    /** One pass over every worker-held run; returns the runs it failed and why. */
    async reconcile(): Promise<{ runId: string; reason: string }[]> {
      const now = clock();
      const failed: { runId: string; reason: string }[] = [];
      for (const row of await heldRuns()) {
        const reason = stuckReason(
          {
            workerId: row.worker_id,
            workerStatus: row.w_id === null ? null : row.w_status,
            workerGoneReason: row.w_gone_reason,
            startedAt: row.started_at,
            lastActivityAt: row.last_activity_at,
            updatedAt: row.updated_at,
            state: row.state,
          },
          now,
          deps,
        );
        if (!reason) continue;
        const done = await fail(
          { ...row, stateVersion: row.state_version },
          reason,
          now,
        );
        if (done) failed.push({ runId: row.id, reason });
      }
      await releaseStaleHolds(now);
      return failed;
    },

    /**
     * Fails the runs these workers hold, with `reason` (for the workers module's expiry
     * and unregister handling). Idempotent: runs that already moved on are skipped.
     */
    async failRunsOfWorkers(
      workerIds: readonly string[],
      reason: string,
    ): Promise<string[]> {
      if (workerIds.length === 0) return [];
      const now = clock();
      const failed: string[] = [];
      for (const row of await heldRuns(workerIds)) {
        const why = `worker ${row.worker_id} was lost: ${reason}`;
        if (await fail({ ...row, stateVersion: row.state_version }, why, now))
          failed.push(row.id);
      }
      return failed;
    },
  };
}

export type RunReconciler = ReturnType<typeof createRunReconciler>;
