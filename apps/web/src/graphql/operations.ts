/**
 * GraphQL operations of the web UI that use Stackyard's additive extensions (fields
 * named `stackyard*` in the SDL). Plain strings with their result types, in the style of
 * packages/api-client/src/operations.ts.
 */

export interface PlanResourceChange {
  address: string;
  previousAddress: string | null;
  type: string;
  name: string;
  providerName: string;
  actions: string[];
  /** JSON text of the attributes before ("null" for a create). */
  before: string;
  /** JSON text of the attributes after ("null" for a delete). */
  after: string;
}
export const RUN_PLAN_CHANGES = `query($run:ID!$stack:ID!){stack(id: $stack){id,run(id: $run){id,stackyardPlanChanges{address,previousAddress,type,name,providerName,actions,before,after}}}}`;
export interface RunPlanChangesResult {
  stack: {
    id: string;
    run: { id: string; stackyardPlanChanges: PlanResourceChange[] } | null;
  } | null;
}

export interface StateVersionNode {
  id: string;
  serial: number;
  lineage: string;
  /** Unix seconds. */
  createdAt: number;
  runId: string | null;
  createdBy: string | null;
  size: number;
  restoredFromId: string | null;
  isCurrent: boolean;
}
const STATE_VERSION_FIELDS =
  "id,serial,lineage,createdAt,runId,createdBy,size,restoredFromId,isCurrent";
export const STACK_STATE_VERSIONS = `query($stack:ID!$first:Int$after:ID){stack(id: $stack){id,lockedBy,managesStateFile,canWrite,stackyardStateVersions(first: $first, after: $after){nodes{${STATE_VERSION_FIELDS}},pageInfo{endCursor,hasNextPage}}}}`;
export interface StackStateVersionsResult {
  stack: {
    id: string;
    lockedBy: string | null;
    managesStateFile: boolean;
    canWrite: boolean;
    stackyardStateVersions: {
      nodes: StateVersionNode[];
      pageInfo: { endCursor: string | null; hasNextPage: boolean };
    };
  } | null;
}

export const STATE_ROLLBACK = `mutation($stack:ID!$version:ID!){stackyardStateRollback(stack: $stack, version: $version){${STATE_VERSION_FIELDS}}}`;
export interface StateRollbackResult {
  stackyardStateRollback: StateVersionNode;
}

export const STATE_VERSION_DOWNLOAD_URL = `mutation($stack:ID!$version:ID!){stackyardStateVersionDownloadUrl(stack: $stack, version: $version){url}}`;
export interface StateVersionDownloadUrlResult {
  stackyardStateVersionDownloadUrl: { url: string };
}

export interface WorkerCurrentRun {
  id: string;
  stackId: string;
  state: string;
}
export const WORKER_POOLS_WITH_RUNS = `{workerPools{id,name,description,labels,pendingRuns,busyWorkers,workers{id,busy,drained,metadata,status,stackyardCurrentRun{id,stackId,state}}}}`;

export const STACK_FOLDERS = `{stackyardStackFolders}`;
export interface StackFoldersResult {
  stackyardStackFolders: string[];
}
