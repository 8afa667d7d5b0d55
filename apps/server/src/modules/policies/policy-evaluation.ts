import { createHash } from "node:crypto";
import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { stringifyExact } from "@stackyard/protocol";
import type { Logger } from "../../platform/log/logger.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { PolicyTimeoutType } from "../../platform/config/index.ts";
import type { SpaceAccess, Stack } from "../stacks/index.ts";
import type { OpaClient, OpaModule } from "./opa-client.ts";
import { PolicyBodyInvalidError } from "./policy-errors.ts";
import type { PolicyValidator } from "./policy-validation.ts";
import {
  applyFlags,
  isTrue,
  packageOf,
  policyAutoAttaches,
  rewriteSource,
  stringsOf,
  type Policy,
  type PolicyResult,
  type PolicyType,
} from "./policy.ts";
import { runInput, stackInput } from "./policy-inputs.ts";
import * as repo from "./policy-repo.ts";

/** Samples kept per policy, and for how long (spacelift-reference §2, "sample"). */
export const SAMPLES_KEPT = 100;
export const SAMPLE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const TIMEOUT_KEY: Partial<Record<PolicyType, PolicyTimeoutType>> = {
  PLAN: "plan",
  LOGIN: "login",
  GIT_PUSH: "push",
  APPROVAL: "approval",
  TRIGGER: "trigger",
  NOTIFICATION: "notification",
  INTENT: "intent",
};

/** What one policy decided, for the run's notes, samples and notification inputs. */
export interface PolicyReceipt {
  policyId: string;
  policyName: string;
  type: PolicyType;
  /** Type-specific summary ("deny", "warn", "allow", "approve", "undecided", "error", ...). */
  outcome: string;
  /** The package document OPA returned; `{}` on error. */
  result: PolicyResult;
  /** Why the evaluation failed (runtime error, timeout, engine unavailable). */
  error: string | null;
  /** Key of the stored sample when the policy's `sample` rule was true. */
  sampleKey: string | null;
}

export interface Evaluation {
  type: PolicyType;
  receipts: PolicyReceipt[];
  /** Receipts that failed: a caller must never treat these as a pass. */
  errors: PolicyReceipt[];
  /** The run's flags after every policy's `flag` / `reset_flag` (when a run was given). */
  flags: string[];
}

/** The summary of one policy's result, by type (also the sample's `outcome`). */
export function outcomeOf(type: PolicyType, r: PolicyResult): string {
  switch (type) {
    case "PLAN":
      return stringsOf(r.deny).length
        ? "deny"
        : stringsOf(r.warn).length
          ? "warn"
          : "allow";
    case "LOGIN":
      return stringsOf(r.deny).length || isTrue(r.deny)
        ? "deny"
        : isTrue(r.admin)
          ? "admin"
          : isTrue(r.allow)
            ? "allow"
            : "undecided";
    case "APPROVAL":
      return isTrue(r.reject)
        ? "reject"
        : isTrue(r.approve)
          ? "approve"
          : "undecided";
    case "TRIGGER":
      return stringsOf(r.trigger).length ? "trigger" : "undecided";
    case "GIT_PUSH":
      return isTrue(r.fail) || stringsOf(r.fail).length
        ? "fail"
        : stringsOf(r.ignore).length || isTrue(r.ignore)
          ? "ignore"
          : stringsOf(r.track).length || isTrue(r.track)
            ? "track"
            : stringsOf(r.propose).length || isTrue(r.propose)
              ? "propose"
              : "undecided";
    case "NOTIFICATION":
      return ["inbox", "slack", "webhook", "pull_request"].some(
        (k) => stringsOf(r[k]).length || (Array.isArray(r[k]) && r[k].length),
      )
        ? "notify"
        : "undecided";
    default:
      return stringsOf(r.deny).length ? "deny" : "allow";
  }
}

export interface PolicyEvaluationDeps {
  db: Database;
  /** Which spaces' policies reach a stack: its own and the ancestors it inherits from. */
  access: Pick<SpaceAccess, "usableSpaces">;
  opa: Pick<OpaClient, "evaluate">;
  /**
   * Checks a stored body again before its first evaluation in this process, so a policy
   * saved before a built-in was disabled (e.g. `net.lookup_ip_addr`) fails closed
   * instead of running. Absent (some tests): stored bodies are trusted.
   */
  validator?: Pick<PolicyValidator, "validate">;
  stacks: { loadStack(id: string): Promise<Stack | null> };
  storage: Pick<BlobStore, "put" | "delete">;
  samplesBucket: string;
  timeoutsMs: Readonly<Record<PolicyTimeoutType, number>> & {
    readonly combined: number;
  };
  clock: () => Date;
  log: Logger;
}

export const moduleOf = (policy: Policy): OpaModule => ({
  id: `p_${policy.id}`,
  pkg: packageOf(policy.id),
  source: rewriteSource(policy.body, packageOf(policy.id), policy.engineType),
});

/**
 * Evaluates the policies of one type for one event.
 *
 * - Which policies: LOGIN (and NOTIFICATION, which is space-level) are global: every
 *   policy of the type. Others are those attached to the stack, explicitly or by an
 *   `autoattach:` label of a policy in the stack's space or an ancestor it inherits
 *   from (`inheritEntities`).
 * - Each policy is evaluated separately, in id order, with the type's timeout and within
 *   the combined budget for the event; the caller combines the results (deny wins).
 * - A failed evaluation (runtime error, timeout, engine unavailable) is a receipt with
 *   outcome "error", listed in `errors`: callers fail closed on it.
 * - `sample` true stores {input, body, result} in the policy-inputs bucket and an index
 *   row, keeping the newest 100 per policy for 7 days; a failure to store a sample is
 *   logged and never fails the evaluation.
 * - With a run, `flag`/`reset_flag` of each policy update the run's flags, stored before
 *   returning, so a later policy type on the same run reads them as `run.flags`; and
 *   each policy's receipt (name, type, outcome, the flags it set, plan deny/warn
 *   messages) is appended to the run's receipts (`policy_receipts` of notification
 *   inputs). A retried evaluation appends again, as Spacelift lists every evaluation.
 */
export function createPolicyEvaluation(deps: PolicyEvaluationDeps) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "policies" });
  const ulid = monotonicFactory();

  function timeoutOf(type: PolicyType): number {
    const key = TIMEOUT_KEY[type];
    return key ? deps.timeoutsMs[key] : 5_000;
  }

  /** The policies of `type` that apply to the stack (attached or auto-attached). */
  async function policiesForStack(
    stackId: string,
    type: PolicyType,
  ): Promise<Policy[]> {
    const stack = await deps.stacks.loadStack(stackId);
    if (!stack) return [];
    const lineage = await deps.access.usableSpaces(stack.spaceId);
    const [attached, candidates] = await Promise.all([
      repo.attachedToStack(db, stackId),
      repo.autoattachCandidates(db, lineage),
    ]);
    const byId = new Map<string, Policy>();
    for (const a of attached) byId.set(a.policy.id, a.policy);
    for (const c of candidates)
      if (
        !byId.has(c.id) &&
        policyAutoAttaches(c, { labels: stack.labels, spaceLineage: lineage })
      )
        byId.set(c.id, c);
    return [...byId.values()]
      .filter((p) => p.type === type)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async function storeSample(
    policy: Policy,
    input: unknown,
    result: PolicyResult,
    outcome: string,
  ): Promise<string | null> {
    const now = clock();
    const key = ulid(now.getTime()).toLowerCase();
    try {
      await deps.storage.put(
        deps.samplesBucket,
        `${policy.id}/${key}.json`,
        stringifyExact({ input, body: policy.body, result }),
        { contentType: "application/json" },
      );
      await repo.insertSample(db, {
        policyId: policy.id,
        key,
        outcome,
        at: now,
      });
      const dropped = await repo.trimSamples(
        db,
        policy.id,
        SAMPLES_KEPT,
        new Date(now.getTime() - SAMPLE_TTL_MS),
      );
      for (const k of dropped)
        await deps.storage.delete(deps.samplesBucket, `${policy.id}/${k}.json`);
      return key;
    } catch (err) {
      log.error(
        { err, policyId: policy.id },
        "could not store a policy sample",
      );
      return null;
    }
  }

  /** Validation results of stored bodies, by dialect and sha256 of the body. */
  const checked = new Map<string, string | null>();

  /** Why a stored body may not run (it calls a disabled built-in, ...), or null. */
  async function refusedBody(policy: Policy): Promise<string | null> {
    if (!deps.validator) return null;
    const key = `${policy.engineType}:${createHash("sha256").update(policy.body).digest("hex")}`;
    const known = checked.get(key);
    if (known !== undefined) return known;
    let reason: string | null = null;
    try {
      await deps.validator.validate(policy.body, policy.engineType);
    } catch (err) {
      // Anything but a verdict on the body (OPA missing, say) fails this evaluation
      // only and is not remembered.
      if (!(err instanceof PolicyBodyInvalidError))
        return `not evaluated: checking the policy body failed: ${(err as Error).message}`;
      reason = `not evaluated: ${err.message}; update the policy`;
    }
    checked.set(key, reason);
    return reason;
  }

  async function evaluatePolicies(
    type: PolicyType,
    policies: readonly Policy[],
    input: unknown,
    opts: { runId?: string | null } = {},
  ): Promise<Evaluation> {
    const receipts: PolicyReceipt[] = [];
    let flags = opts.runId ? await repo.runFlags(db, opts.runId) : [];
    // Before the budget starts: a check runs once per body and process.
    const refused = new Map<string, string | null>();
    for (const policy of policies)
      refused.set(policy.id, await refusedBody(policy));
    const deadline = Date.now() + deps.timeoutsMs.combined;
    for (const policy of policies) {
      const left = deadline - Date.now();
      const timeout = Math.min(timeoutOf(type), left);
      let result: PolicyResult = {};
      let error: string | null = refused.get(policy.id) ?? null;
      if (error === null && timeout <= 0) {
        error = `not evaluated: the ${deps.timeoutsMs.combined} ms budget for all policies of this event was used up`;
      } else if (error === null) {
        try {
          result = await deps.opa.evaluate(moduleOf(policy), input, timeout);
        } catch (err) {
          error = (err as Error).message;
        }
      }
      const outcome = error ? "error" : outcomeOf(type, result);
      const sampleKey =
        !error && isTrue(result.sample)
          ? await storeSample(policy, input, result, outcome)
          : null;
      if (!error && opts.runId) flags = applyFlags(flags, result);
      if (error)
        log.warn(
          { policyId: policy.id, type, error },
          "policy evaluation failed",
        );
      receipts.push({
        policyId: policy.id,
        policyName: policy.name,
        type,
        outcome,
        result,
        error,
        sampleKey,
      });
    }
    if (opts.runId && policies.length > 0) {
      const now = clock();
      await repo.setRunFlags(db, opts.runId, flags, now);
      await repo.insertRunReceipts(
        db,
        opts.runId,
        receipts.map((r) => ({
          policyId: r.policyId,
          policyName: r.policyName,
          type: r.type,
          outcome: r.outcome,
          flags: stringsOf(r.result.flag),
          deny: type === "PLAN" ? stringsOf(r.result.deny) : [],
          warn: type === "PLAN" ? stringsOf(r.result.warn) : [],
        })),
        now,
      );
    }
    return {
      type,
      receipts,
      errors: receipts.filter((r) => r.error !== null),
      flags,
    };
  }

  return {
    policiesForStack,
    timeoutOf,

    /** The run's flags so far (`run.flags` in inputs). */
    flagsOf: (runId: string) => repo.runFlags(db, runId),

    /**
     * Evaluates every policy of `type` that applies: every LOGIN policy; the
     * NOTIFICATION policies of the spaces the stack may use (space-level and inherited,
     * spacelift-reference §2: a space's notification policy never sees another space's
     * runs); else those attached to `stackId` (none without a stack).
     */
    async evaluate(
      type: PolicyType,
      target: { stackId?: string | null; runId?: string | null },
      input: unknown,
    ): Promise<Evaluation> {
      let policies: Policy[] = [];
      if (type === "LOGIN") policies = await repo.policiesOfType(db, type);
      else if (type === "NOTIFICATION") {
        const stack = target.stackId
          ? await deps.stacks.loadStack(target.stackId)
          : null;
        const usable = stack
          ? await deps.access.usableSpaces(stack.spaceId)
          : [];
        policies = (await repo.policiesOfType(db, type)).filter((p) =>
          usable.includes(p.spaceId),
        );
      } else if (target.stackId)
        policies = await policiesForStack(target.stackId, type);
      return evaluatePolicies(type, policies, input, { runId: target.runId });
    },

    evaluatePolicies,

    /**
     * The `stack` object every input uses, for inputs built outside this module (the
     * VCS module's push input); null when the stack is gone.
     */
    async stackDocument(stackId: string) {
      const stack = await deps.stacks.loadStack(stackId);
      if (!stack) return null;
      const facts = (await repo.stackFacts(db, [stackId])).get(stackId) ?? null;
      return stackInput(stack, facts);
    },

    /** The `run` object every input uses (flags included); null when the run is gone. */
    async runDocument(runId: string) {
      const run = await repo.runFacts(db, runId);
      if (!run) return null;
      const stack = await deps.stacks.loadStack(run.stackId);
      return runInput(run, { flags: await repo.runFlags(db, runId), stack });
    },

    /** Whether any policy of `type` applies (global types: exists at all). */
    async hasPolicies(
      type: PolicyType,
      stackId?: string | null,
    ): Promise<boolean> {
      if (type === "LOGIN" || type === "NOTIFICATION")
        return (await repo.countPoliciesOfType(db, type)) > 0;
      return stackId
        ? (await policiesForStack(stackId, type)).length > 0
        : false;
    },
  };
}

export type PolicyEvaluation = ReturnType<typeof createPolicyEvaluation>;
