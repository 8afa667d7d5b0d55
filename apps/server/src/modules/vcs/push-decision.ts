import picomatch from "picomatch";
import { trimLeading, trimTrailing } from "../../platform/text.ts";

/**
 * What a push or pull request event does to one stack: the default push behaviour, as a
 * pure function over a document shaped like Spacelift's GIT_PUSH policy input, so a Rego
 * push policy can take its place (see `PushDecider`). No I/O here.
 */

export interface PushPolicyCommit {
  /** Paths relative to the repository root; null: unknown (treated as affected). */
  affected_files: string[] | null;
  author: string;
  branch: string;
  /** Unix nanoseconds, as Spacelift's input (exact: a bigint, see the protocol's exact-json.ts). */
  created_at: bigint;
  hash: string;
  message: string;
  /** "" when the push is not a tag. */
  tag: string;
}

export interface PushPolicyPullRequest {
  action: string;
  action_initiator: string;
  author: string;
  base: PushPolicyCommit;
  head: PushPolicyCommit;
  head_owner: string;
  id: number;
  labels: string[];
  title: string;
  /** Files changed by the pull request; null: unknown (treated as affected). */
  diff: string[] | null;
  draft: boolean;
  closed: boolean;
  approved: boolean;
  mergeable: boolean;
  undiverged: boolean;
}

export interface PushPolicyStack {
  id: string;
  name: string;
  branch: string;
  project_root: string;
  additional_project_globs: string[];
  labels: string[];
  namespace: string;
  repository: string;
  provider: string;
  autodeploy: boolean;
  administrative: boolean;
  state: string;
  space: { id: string };
  disabled: boolean;
  locked_by: string | null;
}

export interface PushPolicyRun {
  id: string;
  type: string;
  state: string;
  branch: string;
  commit: { hash: string };
  created_at: bigint;
}

export interface PushPolicyInput {
  /** Set for a push event; null for a pull request event. */
  push: PushPolicyCommit | null;
  /** Set for a pull request event; null for a push event. */
  pull_request: PushPolicyPullRequest | null;
  stack: PushPolicyStack;
  /** The stack's runs that have not reached a terminal state. */
  in_progress: PushPolicyRun[];
  /** null for raw git stacks polled without an integration. */
  vcs_integration: {
    id: string;
    name: string;
    provider: string;
    is_default: boolean;
    labels: string[];
    space: { id: string };
  } | null;
}

export type PushAction = "track" | "propose" | "ignore";

export interface PushDecision {
  action: PushAction;
  /** Why, in a sentence a user reads in the stack's VCS event list. */
  reason: string;
  /**
   * The GIT_PUSH rules beyond the action (spacelift-reference §2), set by push policies;
   * absent means unset. The push pipeline acts on them (see `vcs-push-pipeline.ts`):
   * - `notrigger`: no run; a tracked push still moves the stack's tracked commit;
   * - `cancel`: ids of the stack's runs to cancel while they are still queued;
   * - `prioritize`: the created run is prioritized;
   * - `lock` / `unlock`: lock ids: lock the stack for the id, or unlock it when that id
   *   holds it (unlock is applied first);
   * - `fail` + `message`: no run, and the stack's commit status fails with the message;
   * - `flags`: stored on the created run, read by later policy types as `run.flags`.
   */
  rules?: PushRules;
}

export interface PushRules {
  notrigger: boolean;
  cancel: string[];
  prioritize: boolean;
  lock: string;
  unlock: string;
  fail: boolean;
  message: string;
  flags: string[];
  /** `module_version` of a push policy ("" or absent: none); recorded, not applied. */
  moduleVersion?: string;
  /** The names of the rules that fired (for the event record), e.g. ["track", "cancel"]. */
  fired: string[];
}

/**
 * The hook point for push decisions. The default is `decidePush`; an attached Rego push
 * policy replaces it per stack (the decider receives the stack in `input.stack`).
 */
export type PushDecider = (
  input: PushPolicyInput,
) => PushDecision | Promise<PushDecision>;

const PROPOSING_PR_ACTIONS = new Set(["opened", "synchronize", "reopened"]);

/** "" for the repository root; no leading "./" or "/", no trailing "/". */
export function normalizeProjectRoot(root: string): string {
  let r = root.trim().replace(/\\/g, "/");
  while (r.startsWith("./")) r = r.slice(2);
  r = trimTrailing(trimLeading(r, "/"), "/");
  return r === "." ? "" : r;
}

/**
 * Whether a changed file concerns the stack: it lies under the project root, or matches
 * one of the additional project globs (doublestar semantics via picomatch, dotfiles
 * included). Returns the first matching rule for the reason text, or null.
 */
export function affectingRule(
  file: string,
  projectRoot: string,
  globs: readonly string[],
): string | null {
  const root = normalizeProjectRoot(projectRoot);
  const path = file.replace(/^\.\//, "");
  if (root === "") return "the project root (the repository root)";
  if (path === root || path.startsWith(`${root}/`))
    return `project root "${root}"`;
  for (const glob of globs) {
    if (glob.trim() && picomatch.isMatch(path, glob.trim(), { dot: true }))
      return `glob "${glob.trim()}"`;
  }
  return null;
}

function affected(
  files: string[] | null,
  stack: PushPolicyStack,
): { affected: boolean; why: string } {
  if (files === null)
    return {
      affected: true,
      why: "the changed files are unknown, so the stack counts as affected",
    };
  for (const file of files) {
    const rule = affectingRule(
      file,
      stack.project_root,
      stack.additional_project_globs,
    );
    if (rule) return { affected: true, why: `${file} matches ${rule}` };
  }
  const root = normalizeProjectRoot(stack.project_root);
  const where =
    stack.additional_project_globs.length > 0
      ? `project root "${root}" or the additional project globs (${stack.additional_project_globs.join(", ")})`
      : `project root "${root}"`;
  return {
    affected: false,
    why:
      files.length === 0
        ? "the commit changes no files"
        : `no changed file (${summarize(files)}) is under ${where}`,
  };
}

function summarize(files: string[]): string {
  const shown = files.slice(0, 3).join(", ");
  return files.length > 3 ? `${shown} and ${files.length - 3} more` : shown;
}

/**
 * The default push behaviour (Spacelift's default push policy):
 * - a tag push is ignored;
 * - a push to the stack's tracked branch that affects the stack is tracked (a TRACKED
 *   run); a push to another branch that affects it is proposed (a PROPOSED run);
 * - a pull request opened, synchronized or reopened whose diff affects the stack is
 *   proposed, on its head commit; other pull request actions (closed, labeled, edited…)
 *   are ignored;
 * - anything that does not affect the stack (no changed file under the project root or
 *   matching an additional project glob) is ignored;
 * - a disabled stack ignores everything.
 * Unknown affected files (null) count as affecting the stack.
 */
export function decidePush(input: PushPolicyInput): PushDecision {
  const { stack } = input;
  if (stack.disabled)
    return { action: "ignore", reason: "the stack is disabled" };
  if (input.push) {
    const push = input.push;
    if (push.tag)
      return {
        action: "ignore",
        reason: `tag ${push.tag}: tag pushes do not trigger runs`,
      };
    if (!push.branch)
      return {
        action: "ignore",
        reason: "the push names no branch",
      };
    const a = affected(push.affected_files, stack);
    if (!a.affected) return { action: "ignore", reason: a.why };
    if (push.branch === stack.branch)
      return {
        action: "track",
        reason: `push to the tracked branch ${push.branch}: ${a.why}`,
      };
    return {
      action: "propose",
      reason: `push to branch ${push.branch} (the stack tracks ${stack.branch}): ${a.why}`,
    };
  }
  if (input.pull_request) {
    const pr = input.pull_request;
    if (!PROPOSING_PR_ACTIONS.has(pr.action))
      return {
        action: "ignore",
        reason: `pull request #${pr.id} ${pr.action}: only opened, synchronize and reopened trigger runs`,
      };
    if (pr.closed)
      return {
        action: "ignore",
        reason: `pull request #${pr.id} is closed`,
      };
    const a = affected(pr.diff, stack);
    if (!a.affected)
      return {
        action: "ignore",
        reason: `pull request #${pr.id}: ${a.why}`,
      };
    return {
      action: "propose",
      reason: `pull request #${pr.id} ${pr.action}: ${a.why}`,
    };
  }
  return { action: "ignore", reason: "neither a push nor a pull request" };
}

export const defaultPushDecider: PushDecider = decidePush;
