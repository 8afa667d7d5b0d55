import { z } from "zod";
import { defineJob, type JobCatalog } from "../../platform/queue/index.ts";
import type { RunDispatcher } from "./run-dispatch.ts";
import { RUN_JOBS } from "./run-enqueue.ts";
import type { RunLogs } from "./run-logs.ts";
import type { RunReconciler } from "./run-reconcile.ts";
import type { RunScheduler } from "./run-scheduling.ts";

/** Passes one `runs.schedule` job may make while each reports that more runs wait. */
const MAX_PASSES_PER_JOB = 10;

/**
 * - `runs.schedule` (payload `{}`): one or more scheduling passes (run-scheduling.ts).
 * - `runs.reconcile` (payload `{}`, every 15 s from the scheduler role): fails stuck
 *   runs (run-reconcile.ts), then makes a scheduling pass and a dispatch pass.
 * - `runs.dispatch` (payload `{}`): dispatch passes (run-dispatch.ts).
 * - `runs.archiveLogs` (payload `{}`, every minute): moves log chunks of ended runs to
 *   the run-logs bucket (run-logs.ts).
 * All are idempotent: every run write is a compare-and-set on the run's state_version,
 * and archiving merges with what is already archived.
 */
export function runJobs(deps: {
  scheduler: Pick<RunScheduler, "schedule">;
  reconciler: Pick<RunReconciler, "reconcile">;
  dispatcher?: Pick<RunDispatcher, "dispatch">;
  logs?: Pick<RunLogs, "archiveEnded">;
}): JobCatalog {
  async function dispatchPasses(): Promise<void> {
    if (!deps.dispatcher) return;
    for (let pass = 0; pass < MAX_PASSES_PER_JOB; pass++) {
      const result = await deps.dispatcher.dispatch();
      if (!result.more || result.dispatched.length === 0) break;
    }
  }

  async function schedulePasses(): Promise<string[]> {
    const ready: string[] = [];
    for (let pass = 0; pass < MAX_PASSES_PER_JOB; pass++) {
      const result = await deps.scheduler.schedule();
      ready.push(...result.ready);
      if (!result.more || result.ready.length === 0) break;
    }
    return ready;
  }

  return {
    [RUN_JOBS.schedule]: defineJob(z.object({}), async () => {
      await schedulePasses();
    }),
    [RUN_JOBS.reconcile]: defineJob(z.object({}), async (_payload, ctx) => {
      const failed = await deps.reconciler.reconcile();
      if (failed.length > 0) ctx.log.warn({ failed }, "failed stuck runs");
      await schedulePasses();
      await dispatchPasses();
    }),
    [RUN_JOBS.dispatch]: defineJob(z.object({}), async () => {
      await dispatchPasses();
    }),
    [RUN_JOBS.archiveLogs]: defineJob(z.object({}), async (_payload, ctx) => {
      if (!deps.logs) return;
      const archived = await deps.logs.archiveEnded();
      if (archived > 0) ctx.log.info({ archived }, "archived run logs");
    }),
  };
}
