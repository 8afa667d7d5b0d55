/**
 * Runs: the run lifecycle from trigger to terminal state, and the scheduling order.
 * Owns tables `runs`, `run_transitions`, `run_reviews`; jobs `runs.schedule`,
 * `runs.reconcile` (and the reserved `runs.dispatch`, #4). The stack lock held by runs is
 * the partial unique index `runs_one_active_blocking_per_stack`, not a table.
 * Does not own stacks, policies or workers: it reads their facts (disabled stacks, idle
 * workers, the default pool) in run-queries.ts and never writes their tables.
 */
import type { Logger } from "../../platform/log/logger.ts";
import { runJobs } from "./run-jobs.ts";
import { createRunReconciler, type ReconcileLimits } from "./run-reconcile.ts";
import { createRunScheduler } from "./run-scheduling.ts";
import { createRunService, type RunServiceDeps } from "./run-service.ts";

export {
  REACHABLE_STATES,
  RUN_ACTIONS,
  RUN_STATES,
  RUN_TYPES,
  TERMINAL_STATES,
  actionError,
  allowedActions,
  assertActionAllowed,
  canPrioritize,
  canRetry,
  holdsStackLock,
  isBlocking,
  isTerminal,
  isWorkerHeld,
  WORKER_HELD_STATES,
  nextState,
  type RunAction,
  type RunEvent,
  type RunEventType,
  type RunSnapshot,
  type RunState,
  type RunType,
} from "./run.ts";
export {
  compareRunOrder,
  pickRunnable,
  schedulingClass,
  type QueuedRunCandidate,
  type SchedulingClass,
  type SchedulingSnapshot,
} from "./run-order.ts";
export {
  IllegalRunTransitionError,
  RunActionNotAllowedError,
  RunNotFoundError,
  RunVersionConflictError,
  StackDisabledError,
  NoWorkerPoolError,
  describeRefusal,
  type RunRefusal,
} from "./run-errors.ts";
export {
  createRunService,
  RUN_LIST_TYPES,
  type RunService,
  type RunServiceDeps,
  type RunList,
  type RunRef,
  type TriggerInput,
} from "./run-service.ts";
export {
  detachPoolFromEndedRuns,
  type RunRecord,
  type RunTransition,
  type RunReviewRecord,
} from "./run-repo.ts";
export {
  createRunScheduler,
  describeWaiting,
  type RunScheduler,
  type SchedulePassResult,
} from "./run-scheduling.ts";
export {
  createRunReconciler,
  stuckReason,
  type RunReconciler,
  type ReconcileLimits,
} from "./run-reconcile.ts";
export { runJobs, enqueueSchedulePass, RUN_JOBS } from "./run-jobs.ts";
export { runResolvers, type RunResolverDeps } from "./run-resolvers.ts";

/** Builds the run engine's parts around shared deps (composition root helper). */
export function createRunsModule(
  deps: Omit<RunServiceDeps, "scheduler"> & {
    log: Logger;
    limits: ReconcileLimits;
  },
) {
  const scheduler = createRunScheduler(deps);
  const reconciler = createRunReconciler({ ...deps, ...deps.limits });
  const service = createRunService({ ...deps, scheduler });
  return {
    service,
    scheduler,
    reconciler,
    jobs: runJobs({ scheduler, reconciler }),
  };
}
