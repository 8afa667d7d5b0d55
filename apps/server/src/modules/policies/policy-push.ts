import { applyFlags, isTrue, stringsOf, type PolicyResult } from "./policy.ts";
import type { PolicyEvaluation } from "./policy-evaluation.ts";
import * as repo from "./policy-repo.ts";
import type { Database } from "../../platform/db/index.ts";

/** The GIT_PUSH rules besides the action, as the VCS module's `PushRules` reads them. */
export interface PushPolicyRules {
  /** `notrigger`: no run; a tracked push still moves the stack's tracked commit. */
  notrigger: boolean;
  /** `cancel`: ids of the stack's queued runs to cancel. */
  cancel: string[];
  prioritize: boolean;
  /** `lock` / `unlock`: the lock id to lock the stack for, or to unlock ("" when absent). */
  lock: string;
  unlock: string;
  /** `fail`: no run, and the commit's check for the stack fails with `message`. */
  fail: boolean;
  message: string;
  /** `flag` minus `reset_flag`, policy by policy: the created run's `run.flags`. */
  flags: string[];
  /**
   * `module_version`: the version a push would give a module ("" when absent). Nothing
   * creates module versions yet; the VCS module records it as not applied.
   */
  moduleVersion: string;
  /** Names of the rules that fired, in a fixed order. */
  fired: string[];
}

/** What a push or pull request event does to one stack (the VCS module's PushDecision). */
export interface PushPolicyDecision {
  action: "track" | "propose" | "ignore";
  reason: string;
  rules: PushPolicyRules;
}

/** A rule fires when it is true or holds a non-empty string (a set's, or a lone one). */
const truthy = (v: unknown) => isTrue(v) || stringsOf(v).some((s) => s !== "");

/** Rules reported as fired, in this order. */
const REPORTED_RULES = [
  "track",
  "propose",
  "ignore",
  "ignore_track",
  "notrigger",
  "cancel",
  "prioritize",
  "lock",
  "unlock",
  "fail",
  "flag",
  "module_version",
] as const;

const NO_RULES: PushPolicyRules = {
  notrigger: false,
  cancel: [],
  prioritize: false,
  lock: "",
  unlock: "",
  fail: false,
  message: "",
  flags: [],
  moduleVersion: "",
  fired: [],
};

/**
 * Combines the results of the GIT_PUSH policies of one stack (spacelift-reference §2):
 * `ignore` wins; then `track` (made `propose` by `ignore_track`); then `propose`;
 * nothing at all is ignore (a push policy's default). Boolean rules fire when any policy
 * sets them; `cancel` and `flag` are the union; `lock`, `unlock` (strings, or sets whose
 * first member in sorted order counts) take the first non-empty value in policy id
 * order; messages are joined with "; ". A failed evaluation ignores the event with no
 * rules at all and says so: a broken policy never starts, cancels, locks or fails
 * anything.
 */
export function combinePush(
  results: ReadonlyArray<{
    policyName: string;
    result: PolicyResult;
    error: string | null;
  }>,
): PushPolicyDecision {
  const failed = results.filter((r) => r.error !== null);
  if (failed.length)
    return {
      action: "ignore",
      reason: `push policy ${failed.map((r) => `${r.policyName} failed to evaluate: ${r.error}`).join("; ")}`,
      rules: NO_RULES,
    };
  const any = (rule: string) => results.some((r) => truthy(r.result[rule]));
  const all = (rule: string) => [
    ...new Set(results.flatMap((r) => stringsOf(r.result[rule]))),
  ];
  const first = (rule: string) =>
    results
      .map((r) => stringsOf(r.result[rule]).filter(Boolean).sort()[0] ?? "")
      .find((v) => v !== "") ?? "";
  const names = (rule: string) =>
    results
      .filter((r) => truthy(r.result[rule]))
      .map((r) => r.policyName)
      .join(", ");
  let flags: string[] = [];
  for (const r of results) flags = applyFlags(flags, r.result);
  const rules: PushPolicyRules = {
    notrigger: any("notrigger"),
    cancel: all("cancel").filter(Boolean),
    prioritize: any("prioritize"),
    lock: first("lock"),
    unlock: first("unlock"),
    fail: any("fail"),
    message: all("message").filter(Boolean).join("; "),
    flags,
    moduleVersion: first("module_version"),
    fired: REPORTED_RULES.filter((rule) => any(rule)),
  };
  if (any("ignore"))
    return {
      action: "ignore",
      reason: `ignored by push policy ${names("ignore")}`,
      rules,
    };
  if (any("track"))
    return any("ignore_track")
      ? {
          action: "propose",
          reason: `push policy ${names("track")} tracks, but ${names("ignore_track")} sets ignore_track: proposed`,
          rules,
        }
      : {
          action: "track",
          reason: `tracked by push policy ${names("track")}`,
          rules,
        };
  if (any("propose"))
    return {
      action: "propose",
      reason: `proposed by push policy ${names("propose")}`,
      rules,
    };
  return {
    action: "ignore",
    reason:
      "no push policy rule tracks or proposes this event (the default is ignore)",
    rules,
  };
}

/**
 * Stores a push policy's flags on the run it created, in the run's insert transaction
 * (`run_policy_flags`, the same storage every policy type's `flag` uses), so plan,
 * approval, trigger and notification policies of that run read them as `run.flags`.
 */
export function createPushFlagRecorder(clock: () => Date) {
  return async (tx: Database, runId: string, flags: readonly string[]) => {
    if (flags.length > 0)
      await repo.setRunFlags(tx, runId, [...flags], clock());
  };
}

/**
 * The push decider for the VCS module: when GIT_PUSH policies apply to the input's
 * stack, they decide; otherwise `fallback`, the default push behaviour. VCS comes
 * before policies in the module order, so the composition root passes its `decidePush`
 * in rather than this module importing it.
 *
 * The input document is the VCS module's (`push`, `pull_request`, `stack`,
 * `in_progress`, `vcs_integration`, key for key as spacelift-reference §2 lists them).
 * Before the policies see it, its `stack` is completed to the `stack` object every other
 * policy type gets (space name and labels, state, worker pool, tracked commit, ...; the
 * VCS module's own keys such as `disabled` and `provider` stay), and each `in_progress`
 * entry to the full `run` object, so a policy reads the same paths in every type.
 */
export function createPushPolicyDecider<
  I extends {
    stack: { id: string };
    in_progress?: ReadonlyArray<{ id: string }>;
  },
>(
  evaluation: Pick<
    PolicyEvaluation,
    "policiesForStack" | "evaluatePolicies" | "stackDocument" | "runDocument"
  >,
  fallback: (input: I) => {
    action: PushPolicyDecision["action"];
    reason: string;
  },
): (input: I) => Promise<{
  action: PushPolicyDecision["action"];
  reason: string;
  rules?: PushPolicyRules;
}> {
  return async (input: I) => {
    const policies = await evaluation.policiesForStack(
      input.stack.id,
      "GIT_PUSH",
    );
    if (policies.length === 0) return fallback(input);
    const stack = await evaluation.stackDocument(input.stack.id);
    const inProgress = [];
    for (const run of input.in_progress ?? []) {
      const doc = await evaluation.runDocument(run.id);
      inProgress.push(doc ? { ...run, ...doc } : run);
    }
    const document = {
      ...input,
      stack: stack
        ? { ...stack, ...input.stack, space: stack.space }
        : input.stack,
      in_progress: inProgress,
    };
    const result = await evaluation.evaluatePolicies(
      "GIT_PUSH",
      policies,
      document,
    );
    return combinePush(result.receipts);
  };
}
