import type {
  ContextResolvers,
  PolicyResolvers,
  RunResolvers,
  SpaceResolvers,
  StackIntegrationsResolvers,
  StackResolvers,
  WorkerPoolResolvers,
  WorkerResolvers,
} from "./generated/resolvers.ts";
import type {
  ContextNode,
  SpaceNode,
  StackIntegrationsNode,
  StackNode,
} from "../modules/stacks/index.ts";
import type { PolicyNode } from "../modules/policies/index.ts";
import type { RunRecord } from "../modules/runs/index.ts";
import type { WorkerNode, WorkerPoolNode } from "../modules/workers/index.ts";

/**
 * What a field resolver of `R` yields, promises unwrapped; for a nullable field also
 * `undefined`, which graphql-js answers as null.
 */
type FieldValue<R> = R extends (...args: never[]) => infer V
  ? Awaited<V> | (null extends Awaited<V> ? undefined : never)
  : never;

/**
 * The fields a presenter object `P` carries for schema type `R` (its generated
 * resolvers type) whose value does not fit the field: graphql-js's default resolver
 * reads them from the object as they are.
 */
export type MismatchedFields<R, P> = {
  [F in keyof R & keyof P]-?: P[F] extends FieldValue<NonNullable<R[F]>>
    ? never
    : F;
}[keyof R & keyof P];

/** Compiles only when `T` is `never`; otherwise the error names the fields. */
type Expect<T extends never> = T;

// The presenters whose objects are the `mappers` of codegen.ts: each field they carry
// must already have its schema type, since no resolver converts it.
export type PresenterChecks = [
  Expect<MismatchedFields<StackResolvers, StackNode>>,
  Expect<MismatchedFields<StackIntegrationsResolvers, StackIntegrationsNode>>,
  Expect<MismatchedFields<ContextResolvers, ContextNode>>,
  Expect<MismatchedFields<SpaceResolvers, SpaceNode>>,
  // `config` (the token, present only when just issued) has its own resolver.
  Expect<MismatchedFields<Omit<WorkerPoolResolvers, "config">, WorkerPoolNode>>,
  Expect<MismatchedFields<WorkerResolvers, WorkerNode>>,
  Expect<MismatchedFields<PolicyResolvers, PolicyNode>>,
];

/**
 * `Run` fields without a resolver, read from the run record as it is; the record's other
 * fields (dates, the stored delta) are converted by the runs module's `Run` resolvers.
 */
type RunRecordFields =
  | "id"
  | "type"
  | "state"
  | "title"
  | "branch"
  | "command"
  | "triggeredBy"
  | "driftDetection"
  | "needsApproval";
export type RunRecordChecks = [
  Expect<Exclude<RunRecordFields, keyof RunRecord>>,
  Expect<MismatchedFields<Pick<RunResolvers, RunRecordFields>, RunRecord>>,
];
