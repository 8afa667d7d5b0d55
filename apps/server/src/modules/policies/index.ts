/**
 * Policies: Rego documents evaluated by OPA (spacelift-reference §2). Owns tables
 * `policies`, `policy_attachments`, `policy_samples`, `run_policy_flags`,
 * `policy_notifications`, `policy_triggered_runs`, `login_policy_changes`,
 * `run_policy_receipts` (migration 0012); the
 * policy-inputs bucket (samples); the embedded OPA process; job
 * `policies.runTransitioned` (enqueued by a trigger on `run_transitions`, migration
 * 0010). It decides (plan deny/warn, approval, trigger targets, login grants, push actions,
 * notification routing) and never acts on another module's data: auth, runs and VCS
 * receive those decisions through ports wired in app.ts and act on them themselves.
 */
import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { PolicyTimeoutType } from "../../platform/config/index.ts";
import type { SpaceAccess, Stack } from "../stacks/index.ts";
import { createOpaClient } from "./opa-client.ts";
import {
  EmbeddedOpa,
  externalOpa,
  findOpaBinary,
  type OpaEndpoint,
} from "./opa-server.ts";
import { createPolicyDecisions } from "./policy-decisions.ts";
import { createPolicyEvaluation } from "./policy-evaluation.ts";
import { createPolicyService } from "./policy-service.ts";
import { createPolicyValidator } from "./policy-validation.ts";
import { policyJobs, type TriggerRunPort } from "./policy-jobs.ts";

export {
  POLICY_TYPES,
  DISABLED_BUILTINS,
  canonicalType,
  policyAutoAttaches,
  rewriteSource,
  packageOf,
  type Policy,
  type PolicyType,
  type PolicyAttachment,
  type EngineType,
} from "./policy.ts";
export {
  PolicyNotFoundError,
  PolicyBodyInvalidError,
  PolicyEvaluationError,
  type RegoProblem,
} from "./policy-errors.ts";
export {
  createOpaClient,
  type OpaClient,
  type OpaModule,
} from "./opa-client.ts";
export {
  EmbeddedOpa,
  externalOpa,
  findOpaBinary,
  type OpaEndpoint,
} from "./opa-server.ts";
export {
  createPolicyValidator,
  type PolicyValidator,
} from "./policy-validation.ts";
export {
  createPolicyEvaluation,
  outcomeOf,
  SAMPLES_KEPT,
  SAMPLE_TTL_MS,
  type Evaluation,
  type PolicyEvaluation,
  type PolicyReceipt,
} from "./policy-evaluation.ts";
export {
  createPolicyService,
  type PolicyService,
  type PolicyInput,
} from "./policy-service.ts";
export {
  createPolicyDecisions,
  type PolicyDecisions,
  type PlanVerdict,
  type ApprovalVerdict,
  type LoginVerdict,
} from "./policy-decisions.ts";
export type {
  PolicyRunFacts,
  ReviewFacts,
  PlanDocumentFacts,
} from "./policy-inputs.ts";
export { policyResolvers, type PolicyNode } from "./policy-resolvers.ts";
export { policyJobs, POLICY_JOBS, type TriggerRunPort } from "./policy-jobs.ts";
export {
  createPushPolicyDecider,
  createPushFlagRecorder,
  type PushPolicyDecision,
  type PushPolicyRules,
} from "./policy-push.ts";

/** Builds the module around one OPA endpoint (embedded unless `opaUrl` is set). */
export function createPoliciesModule(deps: {
  db: Database;
  access: Pick<
    SpaceAccess,
    | "assertCanRead"
    | "assertCanAdmin"
    | "visibleSpaces"
    | "homeSpace"
    | "usableSpaces"
  >;
  stacks: { loadStack(id: string): Promise<Stack | null> };
  storage: Pick<BlobStore, "get" | "put" | "delete">;
  samplesBucket: string;
  opaUrl: string | null;
  /** The embedded OPA's memory cap (EmbeddedOpa `memoryLimitMiB`). */
  opaMemoryLimitMiB?: number;
  binDir: string | null;
  timeoutsMs: Readonly<Record<PolicyTimeoutType, number>> & {
    readonly combined: number;
  };
  publicUrl: string;
  clock: () => Date;
  log: Logger;
  /** Tests: an endpoint of their own. */
  endpoint?: OpaEndpoint;
}) {
  const binary = findOpaBinary(deps.binDir);
  const endpoint =
    deps.endpoint ??
    (deps.opaUrl
      ? externalOpa(deps.opaUrl)
      : new EmbeddedOpa({
          binary,
          log: deps.log,
          memoryLimitMiB: deps.opaMemoryLimitMiB,
        }));
  const opa = createOpaClient(endpoint);
  const validator = createPolicyValidator({ opaBinary: binary });
  const evaluation = createPolicyEvaluation({
    db: deps.db,
    access: deps.access,
    opa,
    validator,
    stacks: deps.stacks,
    storage: deps.storage,
    samplesBucket: deps.samplesBucket,
    timeoutsMs: deps.timeoutsMs,
    clock: deps.clock,
    log: deps.log,
  });
  const service = createPolicyService({
    db: deps.db,
    access: deps.access,
    stacks: deps.stacks,
    validator,
    opa,
    storage: deps.storage,
    samplesBucket: deps.samplesBucket,
    clock: deps.clock,
    timeoutOf: evaluation.timeoutOf,
  });
  const decisions = createPolicyDecisions({
    db: deps.db,
    evaluation,
    stacks: deps.stacks,
    clock: deps.clock,
    publicUrl: deps.publicUrl,
  });
  return {
    service,
    evaluation,
    decisions,
    opa,
    endpoint,
    validator,
    /** The job catalog; `triggerRun` lets trigger policies start runs. */
    jobs: (triggerRun?: TriggerRunPort) =>
      policyJobs({ db: deps.db, decisions, triggerRun, log: deps.log }),
    async stop(): Promise<void> {
      await endpoint.stop();
      await validator.close();
    },
  };
}

export type PoliciesModule = ReturnType<typeof createPoliciesModule>;
