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
 * The key deduplicates only against a pass not yet received (platform/queue): a request
 * made while a pass runs, or while a dead drain still hides its received pass, enqueues
 * a new pass, so a run committed after a pass read its candidates is seen by the next
 * one. The reconcile job (every 15 s) ends with a pass of its own as a backstop.
 */
export async function enqueueSchedulePass(db: Database): Promise<void> {
  await enqueue(db, RUN_JOBS.schedule, {}, { jobKey: RUN_JOBS.schedule });
}

/**
 * Enqueues a dispatch pass (handing READY/CONFIRMED runs to idle workers) on `db`, with
 * one shared jobKey like the scheduling pass, with the same dedup rule: a drain that dies
 * holding a received pass never starves dispatch (run-dispatch-recovery.db.test.ts).
 * The reconcile job, which ends with a dispatch pass, is only a backstop.
 */
export async function enqueueDispatch(db: Database): Promise<void> {
  await enqueue(db, RUN_JOBS.dispatch, {}, { jobKey: RUN_JOBS.dispatch });
}
