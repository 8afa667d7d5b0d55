/**
 * The operations the CLI and the web UI send. Each one's text lives in
 * `operations/<name>.graphql`, written the way the Spacelift clients send it so the
 * server sees one dialect; `npm run codegen` turns it into a typed string in
 * `generated/operations.ts` (the same bytes on the wire, with result and variables types
 * generated from the SDL). The names below are the package's public API.
 */
import {
  ApiKeyCreateDocument,
  ApiKeyDeleteDocument,
  ApiKeysListDocument,
  ContextAttachDocument,
  PoliciesListDocument,
  PolicyAttachDocument,
  PolicyCreateDocument,
  PolicyDeleteDocument,
  PolicyDetachDocument,
  PolicyPageDocument,
  PolicySampleDocument,
  PolicySimulateDocument,
  PolicyUpdateDocument,
  RunApprovalDocument,
  RunPlanChangesDocument,
  RunReviewDocument,
  StackFoldersDocument,
  StackPoliciesDocument,
  StackStateVersionsDocument,
  StackVcsEventsDocument,
  StateRollbackDocument,
  StateVersionDownloadUrlDocument,
  VcsIntegrationCreateDocument,
  VcsIntegrationDeleteDocument,
  VcsIntegrationUpdateDocument,
  VcsIntegrationsDocument,
  WorkerPoolsWithRunsDocument,
  ContextConfigAddDocument,
  ContextConfigDeleteDocument,
  ContextCreateDocument,
  ContextDeleteDocument,
  ContextDetachDocument,
  ContextPageDocument,
  ContextUpdateDocument,
  ContextsListDocument,
  RunCancelDocument,
  RunConfirmDocument,
  RunDiscardDocument,
  RunHistoryDocument,
  RunLogsDocument,
  RunPageDocument,
  RunRetryDocument,
  RunStopDocument,
  RunTriggerDocument,
  StackConfigAddDocument,
  StackConfigDeleteDocument,
  StackCreateDocument,
  StackLockDocument,
  StackPageDocument,
  StackUnlockDocument,
  StacksListDocument,
  StacksPageDocument,
  StateDownloadUrlDocument,
  StateUploadUrlDocument,
  ViewerDocument,
  WorkerDrainSetDocument,
  WorkerPoolCreateDocument,
  WorkerPoolCycleDocument,
  WorkerPoolsDocument,
  type ApiKeyCreateMutation,
  type ApiKeysListQuery,
  type ContextCreateMutation,
  type ContextPageQuery,
  type ContextsListQuery,
  type RunConfirmMutation,
  type RunHistoryQuery,
  type RunLogsQuery,
  type RunPageQuery,
  type RunTriggerMutation,
  type StackCreateMutation,
  type StackPageQuery,
  type StacksListQuery,
  type StacksPageQuery,
  type StateDownloadUrlMutation,
  type StateUploadUrlMutation,
  type ViewerQuery,
  type WorkerPoolCreateMutation,
  type WorkerPoolCycleMutation,
  type WorkerPoolsQuery,
} from "./generated/operations.ts";

/** The element type of a list field. */
type Item<T> = T extends ReadonlyArray<infer E> ? E : never;

// ---------------------------------------------------------------- CLI operations

export const STACKS_PAGE = StacksPageDocument;
export type StacksPage = StacksPageQuery;
export type StackListItem = Item<StacksPage["searchStacks"]["edges"]>["node"];

export const STACK_CREATE = StackCreateDocument;
export type StackCreateResult = StackCreateMutation;

export const RUN_TRIGGER = RunTriggerDocument;
export type RunTriggerResult = RunTriggerMutation;

export const RUN_CONFIRM = RunConfirmDocument;
export type RunConfirmResult = RunConfirmMutation;

export const RUN_HISTORY = RunHistoryDocument;
export type RunHistoryResult = RunHistoryQuery;
export type RunTransition = Item<
  NonNullable<NonNullable<RunHistoryResult["stack"]>["run"]>["history"]
>;

export const RUN_LOGS = RunLogsDocument;
export type RunLogsResult = RunLogsQuery;
export type RunLogsPage = NonNullable<
  NonNullable<NonNullable<RunLogsResult["stack"]>["run"]>["logs"]
>;

// ---------------------------------------------------------------- web UI operations

export const VIEWER = ViewerDocument;
export type ViewerResult = ViewerQuery;

/** The stacks page: one page of stacks with what the list shows. */
export const STACKS_LIST = StacksListDocument;
export type StacksListResult = StacksListQuery;
export type StacksListItem = Item<
  StacksListResult["searchStacks"]["edges"]
>["node"];

/** Everything the stack page shows, in one round trip. */
export const STACK_PAGE = StackPageDocument;
export type StackPageResult = StackPageQuery;
export type StackDetails = NonNullable<StackPageResult["stack"]>;
export type RunSummary = Item<StackDetails["runs"]>;
export type ConfigElementView = Item<StackDetails["config"]>;

export const RUN_PAGE = RunPageDocument;
export type RunPageResult = RunPageQuery;
export type RunDetails = NonNullable<
  NonNullable<RunPageResult["stack"]>["run"]
>;

export const RUN_DISCARD = RunDiscardDocument;
export const RUN_RETRY = RunRetryDocument;
export const RUN_CANCEL = RunCancelDocument;
export const RUN_STOP = RunStopDocument;

export const STACK_LOCK = StackLockDocument;
export const STACK_UNLOCK = StackUnlockDocument;

/** Adds or replaces an environment variable or mounted file (S23/S24). */
export const STACK_CONFIG_ADD = StackConfigAddDocument;
export const STACK_CONFIG_DELETE = StackConfigDeleteDocument;

export const WORKER_POOLS = WorkerPoolsDocument;
export type WorkerPoolsResult = WorkerPoolsQuery;
export type WorkerPoolView = Item<WorkerPoolsResult["workerPools"]>;
/** `metadata` is a JSON object encoded as a string (graphql-compat §0.5.7). */
export type WorkerView = Item<WorkerPoolView["workers"]>;
export const WORKER_DRAIN_SET = WorkerDrainSetDocument;

export const STATE_UPLOAD_URL = StateUploadUrlDocument;
export type StateUploadUrlResult = StateUploadUrlMutation;

export const STATE_DOWNLOAD_URL = StateDownloadUrlDocument;
export type StateDownloadUrlResult = StateDownloadUrlMutation;

/** REST: `GET /api/v1/stacks/:id/state/versions`. */
export const stateVersionsPath = (stackId: string, limit?: number) =>
  `/api/v1/stacks/${encodeURIComponent(stackId)}/state/versions${limit ? `?limit=${limit}` : ""}`;
/** REST: `POST /api/v1/stacks/:id/state/<action>` (download-url, import, rollback, force-unlock). */
export const stateActionPath = (
  stackId: string,
  action: "download-url" | "import" | "rollback" | "force-unlock",
) => `/api/v1/stacks/${encodeURIComponent(stackId)}/state/${action}`;

export interface StateVersionInfo {
  id: string;
  serial: number;
  lineage: string;
  checksum: string;
  size: number;
  runId: string | null;
  createdAt: string;
  createdBy: string | null;
  restoredFromId: string | null;
  isCurrent: boolean;
}
export interface StateLockInfo {
  lockId: string;
  runId: string;
  createdAt: string;
  stale: boolean;
  info: Record<string, unknown>;
}
export interface StateVersionsResult {
  versions: StateVersionInfo[];
  lock: StateLockInfo | null;
}
export interface StateDownloadUrlRestResult {
  url: string;
  versionId: string;
  expiresAt: number;
}
export interface StateVersionResult {
  version: StateVersionInfo;
}
export interface StateForceUnlockResult {
  unlocked: boolean;
  lock: StateLockInfo | null;
}

export const WORKER_POOL_CREATE = WorkerPoolCreateDocument;
export type WorkerPoolCreateResult = WorkerPoolCreateMutation;

export const WORKER_POOL_CYCLE = WorkerPoolCycleDocument;
export type WorkerPoolCycleResult = WorkerPoolCycleMutation;

// ---- contexts (the web UI's contexts pages and the stack page's attach form)

/** Stackyard extension: every context the caller can read. */
export const CONTEXTS_LIST = ContextsListDocument;
export type ContextsListResult = ContextsListQuery;
export type ContextSummary = Item<ContextsListResult["stackyardContexts"]>;

export const CONTEXT_PAGE = ContextPageDocument;
export type ContextPageResult = ContextPageQuery;
export type ContextDetails = NonNullable<ContextPageResult["context"]>;
/** A context's hooks, phase → commands (the 11 phases of `HooksInput`). */
export type ContextHooksView = ContextDetails["hooks"];

export const CONTEXT_CREATE = ContextCreateDocument;
export type ContextCreateResult = ContextCreateMutation;
export const CONTEXT_UPDATE = ContextUpdateDocument;
export const CONTEXT_DELETE = ContextDeleteDocument;
/** Attaches context `id` to stack `stack`; detach takes the attachment id. */
export const CONTEXT_ATTACH = ContextAttachDocument;
export const CONTEXT_DETACH = ContextDetachDocument;
export const CONTEXT_CONFIG_ADD = ContextConfigAddDocument;
export const CONTEXT_CONFIG_DELETE = ContextConfigDeleteDocument;

// ---- web UI: policies, reviews, state history, VCS (mostly `stackyard*` extensions)

export const RUN_PLAN_CHANGES = RunPlanChangesDocument;
export const STACK_STATE_VERSIONS = StackStateVersionsDocument;
export const STATE_ROLLBACK = StateRollbackDocument;
export const STATE_VERSION_DOWNLOAD_URL = StateVersionDownloadUrlDocument;
export const WORKER_POOLS_WITH_RUNS = WorkerPoolsWithRunsDocument;
export const STACK_FOLDERS = StackFoldersDocument;

export const POLICIES_LIST = PoliciesListDocument;
export const POLICY_PAGE = PolicyPageDocument;
export const POLICY_SAMPLE = PolicySampleDocument;
export const POLICY_CREATE = PolicyCreateDocument;
export const POLICY_UPDATE = PolicyUpdateDocument;
export const POLICY_DELETE = PolicyDeleteDocument;
export const POLICY_SIMULATE = PolicySimulateDocument;
export const STACK_POLICIES = StackPoliciesDocument;
export const POLICY_ATTACH = PolicyAttachDocument;
export const POLICY_DETACH = PolicyDetachDocument;
export const RUN_APPROVAL = RunApprovalDocument;
export const RUN_REVIEW = RunReviewDocument;

export const VCS_INTEGRATIONS = VcsIntegrationsDocument;
export const VCS_INTEGRATION_CREATE = VcsIntegrationCreateDocument;
export const VCS_INTEGRATION_UPDATE = VcsIntegrationUpdateDocument;
export const VCS_INTEGRATION_DELETE = VcsIntegrationDeleteDocument;
export const STACK_VCS_EVENTS = StackVcsEventsDocument;

// ---- web UI: API keys (root admins)

export const API_KEYS_LIST = ApiKeysListDocument;
export type ApiKeyView = ApiKeysListQuery["apiKeys"][number];
/** The answer carrying the key's secret: shown once, never stored by the UI. */
export const API_KEY_CREATE = ApiKeyCreateDocument;
export type ApiKeyCreateResult = ApiKeyCreateMutation;
export const API_KEY_DELETE = ApiKeyDeleteDocument;
