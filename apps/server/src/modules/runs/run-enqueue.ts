import type { Database } from "../../platform/db/index.ts";
import { enqueue } from "../../platform/queue/index.ts";

/** Job names of the runs module. */
export const RUN_JOBS = {
  schedule: "runs.schedule",
  reconcile: "runs.reconcile",
  dispatch: "runs.dispatch",
  archiveLogs: "runs.archiveLogs",
} as const;

/**
 * Enqueues a scheduling pass on `db` (normally the caller's transaction, so the pass is
 * queued exactly when the write that warrants it commits). Every such enqueue shares one
 * jobKey, so a burst of triggers collapses into one pending pass.
 *
 * The queue drops an enqueue whose key a *running* pass still holds, so a run committed
 * while a pass is between its read and its commit may not be seen by that pass. The
 * reconcile job (every 15 s) therefore ends with a pass of its own: a run can wait for a
 * scheduling pass at most that long, never forever.
 */
export async function enqueueSchedulePass(db: Database): Promise<void> {
  await enqueue(db, RUN_JOBS.schedule, {}, { jobKey: RUN_JOBS.schedule });
}

/**
 * Enqueues a dispatch pass (handing READY/CONFIRMED runs to idle workers) on `db`, with
 * one shared jobKey like the scheduling pass. An enqueue dropped because a running pass
 * holds the key is covered by the reconcile job, which ends with a dispatch pass: a run
 * waits for dispatch at most that long (15 s).
 */
export async function enqueueDispatch(db: Database): Promise<void> {
  await enqueue(db, RUN_JOBS.dispatch, {}, { jobKey: RUN_JOBS.dispatch });
}
