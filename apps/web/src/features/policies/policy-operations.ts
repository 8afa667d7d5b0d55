/**
 * GraphQL operations of the policy pages, the stack's policy panel and the run's review
 * panel. The operations live in packages/api-client/src/operations/*.graphql; the named
 * shapes here are derived from their generated result types.
 */
import {
  POLICIES_LIST,
  POLICY_PAGE,
  RUN_APPROVAL,
  STACK_POLICIES,
  type PolicyType as SchemaPolicyType,
  type ResultOf,
} from "@stackyard/api-client";

export {
  POLICIES_LIST,
  POLICY_ATTACH,
  POLICY_CREATE,
  POLICY_DELETE,
  POLICY_DETACH,
  POLICY_PAGE,
  POLICY_SAMPLE,
  POLICY_SIMULATE,
  POLICY_UPDATE,
  RUN_APPROVAL,
  RUN_REVIEW,
  STACK_POLICIES,
} from "@stackyard/api-client";

type Item<T> = T extends ReadonlyArray<infer E> ? E : never;

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
] as const satisfies readonly SchemaPolicyType[];
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

export type PolicySummary = Item<
  ResultOf<typeof POLICIES_LIST>["searchPolicies"]["edges"]
>["node"];

export type PolicyDetails = NonNullable<ResultOf<typeof POLICY_PAGE>["policy"]>;
export type PolicyRecord = Item<PolicyDetails["evaluationRecords"]>;

export type StackPolicyAttachment = Item<
  NonNullable<ResultOf<typeof STACK_POLICIES>["stack"]>["attachedPolicies"]
>;

type ApprovalRun = NonNullable<
  NonNullable<ResultOf<typeof RUN_APPROVAL>["stack"]>["run"]
>;
export type ReviewTransition = Item<ApprovalRun["history"]>;
/** A review of a run; the run's `stackyardReviews` lists them oldest first. */
export type RunReviewRecord = Item<ApprovalRun["stackyardReviews"]>;
