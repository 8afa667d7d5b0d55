/**
 * The operations the CLI sends, written the way the Spacelift clients send them so the
 * server sees one dialect. Result types are the selected fields only.
 */
export const STACKS_PAGE = `query($input: SearchInput!){searchStacks(input: $input){edges{node{id,name,state,branch,repository,projectRoot,labels,lockedBy,isDisabled}},pageInfo{endCursor,hasNextPage}}}`;
export interface StackListItem {
  id: string;
  name: string;
  state: string;
  branch: string;
  repository: string;
  projectRoot: string | null;
  labels: string[];
  lockedBy: string | null;
  isDisabled: boolean;
}
export interface StacksPage {
  searchStacks: {
    edges: Array<{ node: StackListItem }>;
    pageInfo: { endCursor: string | null; hasNextPage: boolean };
  };
}

export const STACK_CREATE = `mutation($input: StackInput!$manageState: Boolean!){stackCreate(input: $input, manageState: $manageState){id,name}}`;
export interface StackCreateResult {
  stackCreate: { id: string; name: string };
}

export const RUN_TRIGGER = `mutation($stack:ID!$type:RunType){runTrigger(stack: $stack, runType: $type){id,state}}`;
export interface RunTriggerResult {
  runTrigger: { id: string; state: string };
}

export const RUN_CONFIRM = `mutation($run:ID!$stack:ID!){runConfirm(stack: $stack, run: $run){id,state}}`;
export interface RunConfirmResult {
  runConfirm: { id: string; state: string };
}

export const RUN_HISTORY = `query($run:ID!$stack:ID!){stack(id: $stack){run(id: $run){history{hasLogs,note,state,stateVersion,terminal,timestamp,username}}}}`;
export interface RunTransition {
  hasLogs: boolean;
  note: string | null;
  state: string;
  stateVersion: number;
  terminal: boolean;
  timestamp: number;
  username: string | null;
}
export interface RunHistoryResult {
  stack: { run: { history: RunTransition[] } | null } | null;
}

export const RUN_LOGS = `query($run:ID!$stack:ID!$state:RunState!$stateVersion:Int!$token:String){stack(id: $stack){run(id: $run){logs(state: $state, token: $token, stateVersion: $stateVersion){exists,finished,hasMore,messages{message},nextToken}}}}`;
export interface RunLogsPage {
  exists: boolean;
  finished: boolean;
  hasMore: boolean;
  messages: Array<{ message: string }>;
  nextToken: string | null;
}
export interface RunLogsResult {
  stack: { run: { logs: RunLogsPage | null } | null } | null;
}

// ---------------------------------------------------------------- web UI operations

export const VIEWER = `{viewer{id,name}}`;
export interface ViewerResult {
  viewer: { id: string; name: string } | null;
}

/** The stacks page: one page of stacks with what the list shows. */
export const STACKS_LIST = `query($input: SearchInput!){searchStacks(input: $input){edges{node{id,name,state,stateSetAt,branch,repository,projectRoot,labels,lockedBy,isDisabled,autodeploy,description}},pageInfo{endCursor,hasNextPage}}}`;
export interface StacksListItem extends StackListItem {
  stateSetAt: number | null;
  autodeploy: boolean;
  description: string | null;
}
export interface StacksListResult {
  searchStacks: {
    edges: Array<{ node: StacksListItem }>;
    pageInfo: { endCursor: string | null; hasNextPage: boolean };
  };
}

export interface RunSummary {
  id: string;
  type: string;
  state: string;
  title: string;
  createdAt: number;
  updatedAt: number | null;
  triggeredBy: string | null;
  canRetry: boolean;
  finished: boolean;
  commit: { hash: string; message: string; authorName: string };
  delta: {
    addCount: number;
    changeCount: number;
    deleteCount: number;
    resources: number;
  } | null;
}
const RUN_SUMMARY_FIELDS = `id,type,state,title,createdAt,updatedAt,triggeredBy,canRetry,finished,commit{hash,message,authorName},delta{addCount,changeCount,deleteCount,resources}`;

export interface ConfigElementView {
  id: string;
  type: "ENVIRONMENT_VARIABLE" | "FILE_MOUNT";
  value: string | null;
  writeOnly: boolean;
  runtime: boolean;
  createdAt: number;
}
export interface StackDetails {
  id: string;
  name: string;
  description: string | null;
  labels: string[];
  state: string;
  stateSetAt: number | null;
  branch: string;
  repository: string;
  projectRoot: string | null;
  autodeploy: boolean;
  isDisabled: boolean;
  lockedBy: string | null;
  managesStateFile: boolean;
  createdAt: number;
  canWrite: boolean;
  workerPool: { id: string; name: string } | null;
  trackedCommit: { hash: string; message: string } | null;
  config: ConfigElementView[];
  attachedContexts: Array<{
    id: string;
    contextId: string;
    contextName: string;
    priority: number;
    isAutoattached: boolean;
  }>;
  outputs: Array<{
    id: string;
    sensitive: boolean;
    description: string | null;
    value: string | null;
  }>;
  runs: RunSummary[];
}
/** Everything the stack page shows, in one round trip. */
export const STACK_PAGE = `query($id:ID!){stack(id: $id){id,name,description,labels,state,stateSetAt,branch,repository,projectRoot,autodeploy,isDisabled,lockedBy,managesStateFile,createdAt,canWrite,workerPool{id,name},trackedCommit{hash,message},config{id,type,value,writeOnly,runtime,createdAt},attachedContexts{id,contextId,contextName,priority,isAutoattached},outputs{id,sensitive,description,value},runs{${RUN_SUMMARY_FIELDS}}}}`;
export interface StackPageResult {
  stack: StackDetails | null;
}

export interface RunDetails extends RunSummary {
  branch: string;
  history: RunTransition[];
  changesV3: Array<{
    resources: Array<{
      address: string;
      previousAddress: string;
      metadata: { type: string };
    }>;
  }>;
}
export const RUN_PAGE = `query($run:ID!$stack:ID!){stack(id: $stack){id,name,lockedBy,run(id: $run){${RUN_SUMMARY_FIELDS},branch,history{hasLogs,note,state,stateVersion,terminal,timestamp,username},changesV3(input: {}){resources{address,previousAddress,metadata{type}}}}}}`;
export interface RunPageResult {
  stack: {
    id: string;
    name: string;
    lockedBy: string | null;
    run: RunDetails | null;
  } | null;
}

export const RUN_DISCARD = `mutation($run:ID!$stack:ID!){runDiscard(stack: $stack, run: $run){id,state}}`;
export const RUN_RETRY = `mutation($run:ID!$stack:ID!){runRetry(stack: $stack, run: $run){id,state}}`;
export const RUN_CANCEL = `mutation($run:ID!$stack:ID!){runCancel(stack: $stack, run: $run){id,state}}`;
export const RUN_STOP = `mutation($note:String!$run:ID!$stack:ID!){runStop(stack: $stack, run: $run, note: $note){id,state}}`;

export const STACK_LOCK = `mutation($id:ID!$note:String){stackLock(id: $id, note: $note){id,lockedBy}}`;
export const STACK_UNLOCK = `mutation($id:ID!){stackUnlock(id: $id){id,lockedBy}}`;

/** Adds or replaces an environment variable or mounted file (S23/S24). */
export const STACK_CONFIG_ADD = `mutation($config: ConfigInput!, $stack: ID!){stackConfigAdd(stack: $stack, config: $config){id,writeOnly,type}}`;
export const STACK_CONFIG_DELETE = `mutation($id:ID!$stack:ID!){stackConfigDelete(stack: $stack, id: $id){id}}`;

export interface WorkerView {
  id: string;
  busy: boolean;
  drained: boolean;
  /** A JSON object encoded as a string (graphql-compat §0.5.7). */
  metadata: string;
  status: string | null;
}
export interface WorkerPoolView {
  id: string;
  name: string;
  description: string | null;
  labels: string[];
  pendingRuns: number;
  busyWorkers: number;
  workers: WorkerView[];
}
export const WORKER_POOLS = `{workerPools{id,name,description,labels,pendingRuns,busyWorkers,workers{id,busy,drained,metadata,status}}}`;
export interface WorkerPoolsResult {
  workerPools: WorkerPoolView[];
}
export const WORKER_DRAIN_SET = `mutation($drain:Boolean!$worker:ID!$workerPool:ID!){workerDrainSet(workerPool: $workerPool, id: $worker, drain: $drain){id,drained}}`;

export const STATE_UPLOAD_URL = `mutation{stateUploadUrl{objectId,url}}`;
export interface StateUploadUrlResult {
  stateUploadUrl: { objectId: string; url: string };
}

export const STATE_DOWNLOAD_URL = `mutation($input: StateDownloadUrlInput!){stateDownloadUrl(input: $input){url}}`;
export interface StateDownloadUrlResult {
  stateDownloadUrl: { url: string };
}

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

export const WORKER_POOL_CREATE = `mutation($name:String!$description:String$csr:String){stackyardWorkerPoolCreate(name: $name, description: $description, certificateSigningRequest: $csr){pool{id,name},token,privateKey}}`;
export interface WorkerPoolCreateResult {
  stackyardWorkerPoolCreate: {
    pool: { id: string; name: string };
    token: string;
    privateKey: string | null;
  };
}

export const WORKER_POOL_CYCLE = `mutation($id:ID!){workerPoolCycle(id: $id)}`;
export interface WorkerPoolCycleResult {
  workerPoolCycle: boolean;
}

// ---- contexts (the web UI's contexts pages and the stack page's attach form)

export interface ContextSummary {
  id: string;
  name: string;
  description: string | null;
  labels: string[];
  space: string;
  updatedAt: number;
}
const CONTEXT_SUMMARY_FIELDS = `id,name,description,labels,space,updatedAt`;
/** Stackyard extension: every context the caller can read. */
export const CONTEXTS_LIST = `{stackyardContexts{${CONTEXT_SUMMARY_FIELDS}}}`;
export interface ContextsListResult {
  stackyardContexts: ContextSummary[];
}
/** A context's hooks, phase → commands (the 11 phases of `HooksInput`). */
export type ContextHooksView = Record<string, string[]>;
export interface ContextDetails extends ContextSummary {
  config: ConfigElementView[];
  hooks: ContextHooksView;
}
const HOOK_FIELDS =
  "afterApply,afterDestroy,afterInit,afterPerform,afterPlan,afterRun,beforeApply,beforeDestroy,beforeInit,beforePerform,beforePlan";
export const CONTEXT_PAGE = `query($id:ID!){context(id: $id){${CONTEXT_SUMMARY_FIELDS},hooks{${HOOK_FIELDS}},config{id,type,value,writeOnly,runtime,createdAt}}}`;
export interface ContextPageResult {
  context: ContextDetails | null;
}
export const CONTEXT_CREATE = `mutation($input: ContextInput!){contextCreateV2(input: $input){id,name}}`;
export interface ContextCreateResult {
  contextCreateV2: { id: string; name: string };
}
export const CONTEXT_UPDATE = `mutation($id:ID!$input: ContextInput!){contextUpdateV2(id: $id, input: $input){id,name}}`;
export const CONTEXT_DELETE = `mutation($id:ID!){contextDelete(id: $id){id}}`;
/** Attaches context `id` to stack `stack`; detach takes the attachment id. */
export const CONTEXT_ATTACH = `mutation($id:ID!$priority:Int!$stack:ID!){contextAttach(id: $id, stack: $stack, priority: $priority){id,stackId,priority}}`;
export const CONTEXT_DETACH = `mutation($id:ID!){contextDetach(id: $id){id}}`;
export const CONTEXT_CONFIG_ADD = `mutation($config: ConfigInput!, $context: ID!){contextConfigAdd(context: $context, config: $config){id,writeOnly,type}}`;
export const CONTEXT_CONFIG_DELETE = `mutation($context:ID!$id:ID!){contextConfigDelete(context: $context, id: $id){id}}`;
