/**
 * GraphQL operations of the policy pages, the stack's policy panel and the run's review
 * panel. Plain strings with their result types, as in ../../graphql/operations.ts.
 */

/** Types a policy can be created with (the SDL's deprecated aliases are left out). */
export const POLICY_TYPES = [
  "PLAN",
  "APPROVAL",
  "GIT_PUSH",
  "TRIGGER",
  "NOTIFICATION",
  "LOGIN",
  "ACCESS",
  "INITIALIZATION",
  "INTENT",
  "TASK",
] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

export const POLICY_TYPE_LABELS: Record<string, string> = {
  PLAN: "Plan",
  TERRAFORM_PLAN: "Plan",
  APPROVAL: "Approval",
  GIT_PUSH: "Git push",
  TRIGGER: "Trigger",
  NOTIFICATION: "Notification",
  LOGIN: "Login",
  ACCESS: "Access",
  STACK_ACCESS: "Access",
  INITIALIZATION: "Initialization",
  INTENT: "Intent",
  TASK: "Task",
  TASK_RUN: "Task",
};

export interface PolicySummary {
  id: string;
  name: string;
  description: string | null;
  type: string;
  labels: string[];
  space: string;
  engineType: string;
  updatedAt: number;
}
const SUMMARY = "id,name,description,type,labels,space,engineType,updatedAt";

export const POLICIES_LIST = `query($input:SearchInput!){searchPolicies(input: $input){edges{node{${SUMMARY}}},pageInfo{endCursor,hasNextPage}}}`;
export interface PoliciesListResult {
  searchPolicies: {
    edges: { node: PolicySummary }[];
    pageInfo: { endCursor: string | null; hasNextPage: boolean };
  };
}

export interface PolicyRecord {
  key: string;
  outcome: string;
  timestamp: number;
}
export interface PolicyDetails extends PolicySummary {
  body: string;
  createdAt: number;
  evaluationRecords: PolicyRecord[];
}
export const POLICY_PAGE = `query($id:ID!){policy(id: $id){${SUMMARY},body,createdAt,evaluationRecords{key,outcome,timestamp}}}`;
export interface PolicyPageResult {
  policy: PolicyDetails | null;
}

export const POLICY_SAMPLE = `query($id:ID!$key:String!){policy(id: $id){id,evaluationSample(key: $key){input,body}}}`;
export interface PolicySampleResult {
  policy: {
    id: string;
    evaluationSample: { input: string; body: string } | null;
  } | null;
}

export const POLICY_CREATE = `mutation($input:PolicyCreateInput!){policyCreatev2(input: $input){id}}`;
export interface PolicyCreateResult {
  policyCreatev2: { id: string };
}
export const POLICY_UPDATE = `mutation($id:ID!$input:PolicyUpdateInput!){policyUpdatev2(id: $id, input: $input){id}}`;
export const POLICY_DELETE = `mutation($id:ID!){policyDelete(id: $id){id}}`;

export const POLICY_SIMULATE = `mutation($body:String!$input:String!$type:PolicyType!){policySimulate(body: $body, input: $input, type: $type)}`;
export interface PolicySimulateResult {
  policySimulate: string;
}

export interface StackPolicyAttachment {
  id: string;
  policyId: string;
  policyName: string;
  policyType: string;
  isAutoattached: boolean;
}
export const STACK_POLICIES = `query($id:ID!){stack(id: $id){id,canWrite,attachedPolicies{id,policyId,policyName,policyType,isAutoattached}}}`;
export interface StackPoliciesResult {
  stack: {
    id: string;
    canWrite: boolean;
    attachedPolicies: StackPolicyAttachment[];
  } | null;
}
export const POLICY_ATTACH = `mutation($id:ID!$stack:ID!){policyAttach(id: $id, stack: $stack){id}}`;
export const POLICY_DETACH = `mutation($id:ID!){policyDetach(id: $id){id}}`;

export interface ReviewTransition {
  state: string;
  stateVersion: number;
  note: string | null;
  timestamp: number;
  username: string | null;
}
export const RUN_APPROVAL = `query($stack:ID!$run:ID!){stack(id: $stack){id,canWrite,run(id: $run){id,type,state,needsApproval,history{state,stateVersion,note,timestamp,username},stackyardReviews{id,author,decision,note,state,timestamp}}}}`;
export interface RunApprovalResult {
  stack: {
    id: string;
    canWrite: boolean;
    run: {
      id: string;
      type: string;
      state: string;
      needsApproval: boolean;
      history: ReviewTransition[];
      /** Every review of the run, oldest first. */
      stackyardReviews: RunReviewRecord[];
    } | null;
  } | null;
}

export const RUN_REVIEW = `mutation($stack:ID!$run:ID$decision:RunReviewDecision!$note:String){runReview(stack: $stack, run: $run, decision: $decision, note: $note){id,author,decision,note,state,timestamp}}`;
export interface RunReviewRecord {
  id: string;
  author: string;
  decision: "APPROVE" | "REJECT";
  note: string | null;
  state: string;
  timestamp: number;
}
export interface RunReviewResult {
  runReview: RunReviewRecord;
}
