/**
 * Runs: the run lifecycle from trigger to terminal state, the scheduling order, and the
 * execution of runs on workers: dispatch (`run.assign`/`run.stop` on the worker's
 * readonly MQTT topic), the worker API (logs, events, workspace, plan document;
 * run-worker-routes.ts), local previews (local-preview-service.ts: uploaded workspaces as
 * a run's source; table `local_workspaces`, the user-uploaded-workspaces bucket), run logs and plan documents (run-plan.ts: `readPlanDocument`
 * serves the masked `resource_changes` to the diff view and plan policies). Owns tables `runs`, `run_transitions`, `run_reviews`, `run_log_chunks`;
 * the run-logs and workspaces buckets; jobs `runs.schedule`, `runs.reconcile`,
 * `runs.dispatch`, `runs.archiveLogs`. The stack lock held by runs is the partial unique
 * index `runs_one_active_blocking_per_stack`, not a table.
 * Does not own stacks, policies, state or workers: it reads their facts (disabled
 * stacks, idle workers, the default pool, pool keys) in run-queries.ts, and the few
 * writes it needs elsewhere (taking and freeing a worker, state credentials) are
 * injected by the composition root.
 */
import type { KeyObject } from "node:crypto";
import type { Encryptor, SigningKey } from "../../platform/crypto/index.ts";
import type { WorkerTransport } from "../../platform/broker/worker-transport.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { JobCatalog } from "../../platform/queue/index.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { StackService } from "../stacks/index.ts";
import {
  createRunDispatcher,
  type CloneUrlPort,
  type RunIdentityPort,
  type StateCredentialIssuer,
  type WorkerSlots,
} from "./run-dispatch.ts";
import { runJobs } from "./run-jobs.ts";
import { createRunLogs } from "./run-logs.ts";
import { createRunReconciler, type ReconcileLimits } from "./run-reconcile.ts";
import { createRunPlanDocuments } from "./run-plan.ts";
import { createRunApproval, type RunPolicyPort } from "./run-policies.ts";
import { createRunReports } from "./run-reports.ts";
import { createRunScheduler } from "./run-scheduling.ts";
import { createRunService, type RunServiceDeps } from "./run-service.ts";
import { createRunTokenSigner } from "./run-token.ts";
import { createLocalPreviews } from "./local-preview-service.ts";

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
export { phaseOf, walkTo } from "./run-phases.ts";
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
export { runJobs } from "./run-jobs.ts";
export {
  enqueueSchedulePass,
  enqueueDispatch,
  RUN_JOBS,
} from "./run-enqueue.ts";
export { runResolvers, type RunResolverDeps } from "./run-resolvers.ts";
export {
  createRunDispatcher,
  type RunDispatcher,
  type DispatchPassResult,
  type WorkerSlots,
  type StateCredentialIssuer,
  type CloneUrlPort,
  type RunIdentityPort,
  RUN_IDENTITY_ENV,
  RUN_IDENTITY_FILE,
} from "./run-dispatch.ts";
export {
  createRunReports,
  type RunReports,
  type ReportOutcome,
} from "./run-reports.ts";
export {
  createRunLogs,
  LOG_STATES,
  LOG_PAGE_MESSAGES,
  ARCHIVE_AFTER_MS,
  archiveKey,
  type RunLogs,
  type RunLogsPage,
} from "./run-logs.ts";
export {
  createRunTokenSigner,
  RUN_TOKEN_AUDIENCE,
  type RunTokenClaims,
  type RunTokenSigner,
} from "./run-token.ts";
export {
  createLocalPreviews,
  LocalPreviewDisabledError,
  type LocalPreviews,
} from "./local-preview-service.ts";
export { registerLocalWorkspaceRoutes } from "./local-preview-routes.ts";
export { localPreviewResolvers } from "./local-preview-resolvers.ts";
export {
  registerRunWorkerRoutes,
  WORKSPACE_BODY_LIMIT_BYTES,
} from "./run-worker-routes.ts";
export {
  createRunApproval,
  enqueueApprovalEvaluation,
  EVALUATE_APPROVAL_JOB,
  type RunApproval,
  type RunPolicyPort,
} from "./run-policies.ts";
export {
  createRunPlanDocuments,
  planDocumentKey,
  type PlanDocument,
  type PlanResourceChange,
  type RunPlanDocuments,
} from "./run-plan.ts";

/** What running runs on workers needs; without it the module schedules but never dispatches. */
export interface RunExecutionDeps {
  stacks: Pick<
    StackService,
    "loadStack" | "effectiveConfig" | "effectiveHooks"
  >;
  state: StateCredentialIssuer;
  workerSlots: WorkerSlots;
  transport: Pick<WorkerTransport, "publish">;
  /** MQTT topic namespace. */
  namespace: string;
  /** The server's public URL (worker API base). */
  apiUrl: string;
  /** Signs run tokens (the instance key: RSA private key or KMS-backed SigningKey). */
  privateKey: KeyObject | SigningKey;
  storage: Pick<BlobStore, "get" | "head" | "put">;
  buckets: { runLogs: string; workspaces: string };
  /** Clone URLs of GitHub/GitLab stacks through their VCS integration (sealed into run.assign). */
  cloneUrls?: CloneUrlPort;
  /**
   * Local previews (local-preview-service.ts): uploads are stored encrypted in `bucket`
   * (the user-uploaded-workspaces bucket). Absent: no local previews.
   */
  localPreviews?: { encryptor: Encryptor; bucket: string };
  /** Mints each run's OIDC identity token (sealed into run.assign); absent: none. */
  identity?: RunIdentityPort;
}

/** Builds the run engine's parts around shared deps (composition root helper). */
export function createRunsModule(
  deps: Omit<RunServiceDeps, "scheduler" | "notifyStop" | "policies"> & {
    log: Logger;
    limits: ReconcileLimits;
    execution?: RunExecutionDeps;
    /** Plan and approval policies (run-policies.ts); absent: no policy gates. */
    policies?: RunPolicyPort;
  },
) {
  const scheduler = createRunScheduler(deps);
  const x = deps.execution;
  const runTokens = x
    ? createRunTokenSigner({ privateKey: x.privateKey, issuer: x.apiUrl })
    : null;
  const dispatcher =
    x && runTokens
      ? createRunDispatcher({
          db: deps.db,
          clock: deps.clock,
          log: deps.log,
          stacks: x.stacks,
          state: x.state,
          workerSlots: x.workerSlots,
          transport: x.transport,
          namespace: x.namespace,
          apiUrl: x.apiUrl,
          runTokens,
          maxDurationSeconds: deps.limits.maxDurationSeconds,
          cloneUrls: x.cloneUrls,
          localWorkspaces: {
            forRun: async (runId) =>
              (await localPreviews?.forRun(runId)) ?? null,
          },
          identity: x.identity,
        })
      : null;
  const reports =
    x && runTokens && dispatcher
      ? createRunReports({
          db: deps.db,
          clock: deps.clock,
          log: deps.log,
          stacks: x.stacks,
          runTokens,
          workerSlots: x.workerSlots,
          dispatcher,
          storage: x.storage,
          workspacesBucket: x.buckets.workspaces,
          policies: deps.policies,
        })
      : null;
  const logs = x
    ? createRunLogs({
        db: deps.db,
        storage: x.storage,
        bucket: x.buckets.runLogs,
        clock: deps.clock,
        log: deps.log,
      })
    : null;
  const plans = x
    ? createRunPlanDocuments({
        storage: x.storage,
        bucket: x.buckets.runLogs,
        log: deps.log,
      })
    : null;
  const reconciler = createRunReconciler({
    ...deps,
    ...deps.limits,
    workerSlots: x?.workerSlots,
  });
  const approval = deps.policies
    ? createRunApproval({
        db: deps.db,
        clock: deps.clock,
        log: deps.log,
        policies: deps.policies,
      })
    : null;
  const service = createRunService({
    ...deps,
    scheduler,
    notifyStop: dispatcher
      ? (run, reason) => dispatcher.sendStop(run, reason)
      : undefined,
  });
  const localPreviews = x?.localPreviews
    ? createLocalPreviews({
        db: deps.db,
        access: deps.access,
        stacks: deps.stacks,
        runs: service,
        storage: x.storage,
        bucket: x.localPreviews.bucket,
        encryptor: x.localPreviews.encryptor,
        privateKey: x.privateKey,
        publicUrl: x.apiUrl,
        clock: deps.clock,
      })
    : null;
  return {
    service,
    /** Local previews: upload reservations, the upload endpoint, runs from uploads. */
    localPreviews,
    scheduler,
    reconciler,
    dispatcher,
    reports,
    logs,
    /** `plans.readPlanDocument(runId)`: the masked plan document (null: none stored). */
    plans,
    runTokens,
    approval,
    jobs: <JobCatalog>{
      ...runJobs({
        scheduler,
        reconciler,
        dispatcher: dispatcher ?? undefined,
        logs: logs ?? undefined,
      }),
      ...(approval?.jobs ?? {}),
    },
  };
}
export {
  registerRunEventsRoute,
  RUN_EVENTS_POLL_MS,
  RUN_EVENTS_KEEPALIVE_MS,
  RUN_EVENTS_MAX_MS,
  type RunEventsDeps,
} from "./run-events-route.ts";
