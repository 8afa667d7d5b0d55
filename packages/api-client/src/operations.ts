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
