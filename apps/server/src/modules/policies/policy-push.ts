import { isTrue, stringsOf, type PolicyResult } from "./policy.ts";
import type { PolicyEvaluation } from "./policy-evaluation.ts";

/** What a push or pull request event does to one stack (the VCS module's PushDecision). */
export interface PushDecision {
  action: "track" | "propose" | "ignore";
  reason: string;
}

/** A push policy's verdict: the VCS action plus the rules VCS may act on besides it. */
export interface PushPolicyDecision extends PushDecision {
  /** `notrigger`: record the run decision but do not start a run. */
  notrigger: boolean;
  /** `cancel`: ids of the stack's queued runs to cancel. */
  cancel: string[];
  prioritize: boolean;
  /** `lock` / `unlock`: who locks or unlocks the stack ("" when absent). */
  lock: string;
  unlock: string;
  /** `fail`: the commit's check fails with `message`. */
  fail: boolean;
  message: string;
  flags: string[];
}

const truthy = (v: unknown) => isTrue(v) || stringsOf(v).length > 0;

/**
 * Combines the results of the GIT_PUSH policies of one stack (spacelift-reference §2):
 * `ignore` wins; then `track` (made `propose` by `ignore_track`); then `propose`;
 * nothing at all is ignore (a push policy's default). A failed evaluation ignores the
 * event and says so: a broken policy never starts or changes runs.
 */
export function combinePush(
  results: ReadonlyArray<{
    policyName: string;
    result: PolicyResult;
    error: string | null;
  }>,
): PushPolicyDecision {
  const any = (rule: string) => results.some((r) => truthy(r.result[rule]));
  const all = (rule: string) => [
    ...new Set(results.flatMap((r) => stringsOf(r.result[rule]))),
  ];
  const names = (rule: string) =>
    results
      .filter((r) => truthy(r.result[rule]))
      .map((r) => r.policyName)
      .join(", ");
  const extras = {
    notrigger: any("notrigger"),
    cancel: all("cancel"),
    prioritize: any("prioritize"),
    lock: all("lock")[0] ?? "",
    unlock: all("unlock")[0] ?? "",
    fail: any("fail"),
    message: all("message").join("; "),
    flags: all("flag"),
  };
  const failed = results.filter((r) => r.error !== null);
  if (failed.length)
    return {
      action: "ignore",
      reason: `push policy ${failed.map((r) => `${r.policyName} failed to evaluate: ${r.error}`).join("; ")}`,
      ...extras,
    };
  if (any("ignore"))
    return {
      action: "ignore",
      reason: `ignored by push policy ${names("ignore")}`,
      ...extras,
    };
  if (any("track"))
    return any("ignore_track")
      ? {
          action: "propose",
          reason: `push policy ${names("track")} tracks, but ${names("ignore_track")} sets ignore_track: proposed`,
          ...extras,
        }
      : {
          action: "track",
          reason: `tracked by push policy ${names("track")}`,
          ...extras,
        };
  if (any("propose"))
    return {
      action: "propose",
      reason: `proposed by push policy ${names("propose")}`,
      ...extras,
    };
  return {
    action: "ignore",
    reason:
      "no push policy rule tracks or proposes this event (the default is ignore)",
    ...extras,
  };
}

/**
 * The push decider for the VCS module: when GIT_PUSH policies apply to the input's
 * stack, they decide (the input document is the VCS module's, which follows Spacelift's
 * push policy input key for key); otherwise `fallback`, the default push behaviour.
 * VCS comes before policies in the module order, so the composition root passes its
 * `decidePush` in rather than this module importing it.
 */
export function createPushPolicyDecider<I extends { stack: { id: string } }>(
  evaluation: Pick<PolicyEvaluation, "policiesForStack" | "evaluatePolicies">,
  fallback: (input: I) => PushDecision,
): (input: I) => Promise<PushDecision> {
  return async (input: I) => {
    const policies = await evaluation.policiesForStack(
      input.stack.id,
      "GIT_PUSH",
    );
    if (policies.length === 0) return fallback(input);
    const result = await evaluation.evaluatePolicies(
      "GIT_PUSH",
      policies,
      input,
    );
    return combinePush(result.receipts);
  };
}
