import { unixNanos } from "@stackyard/protocol";
import { ACCOUNT } from "../auth/index.ts";
import type { Stack } from "../stacks/index.ts";

/**
 * Input documents, key for key as spacelift-reference §2 lists them (and, where §2 says
 * only `run{…}` / `stack{…}`, with the field names of Spacelift's documented input
 * samples), so policies written for Spacelift read the same paths. The same `run`,
 * `commit` and `stack` objects are used by every type. Every timestamp is Unix
 * nanoseconds (`created_at`, `updated_at`, `timestamp_ns`, `timestamp`), durations too.
 * Pure: callers load the facts. docs/architecture.md (Policies) has the key table.
 */

/** What the inputs need of a run (the runs module's RunRecord satisfies it). */
export interface PolicyRunFacts {
  id: string;
  stackId: string;
  type: string;
  state: string;
  commitSha: string | null;
  commitMessage: string;
  commitAuthor: string;
  commitAt: Date | null;
  branch: string;
  command: string | null;
  triggeredBy: string | null;
  driftDetection: boolean;
  runtimeConfig: unknown;
  userMetadata: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface PolicySpaceFacts {
  id: string;
  name: string;
  labels: string[];
}

/**
 * Unix nanoseconds (0 for an unknown time), as every timestamp of Spacelift's inputs: an
 * exact integer (`bigint`, written out by the protocol's `stringifyExact`), since nanosecond times are
 * above 2^53 and a double would change their last digits.
 */
export const ns = unixNanos;

/**
 * What `stack` needs beyond the stacks module's Stack: its space, its computed state
 * (state of the latest tracked run, NONE before the first), its worker pool and the ids
 * of its attached contexts. Null facts read as the defaults noted on each key.
 */
export interface PolicyStackFacts {
  space: PolicySpaceFacts | null;
  state: string;
  workerPool: { id: string; name: string; labels: string[] } | null;
  contexts: string[];
}

/** A commit URL where the host is known (github.com / gitlab.com by provider), else "". */
function commitUrl(stack: Stack | null, hash: string): string {
  if (!stack || !hash) return "";
  if (stack.repositoryUrl && /^https?:\/\//.test(stack.repositoryUrl))
    return `${stack.repositoryUrl.replace(/\.git$/, "").replace(/\/$/, "")}/commit/${hash}`;
  const repo = stack.namespace
    ? `${stack.namespace}/${stack.repository}`
    : stack.repository;
  if (stack.provider === "GITHUB")
    return `https://github.com/${repo}/commit/${hash}`;
  if (stack.provider === "GITLAB")
    return `https://gitlab.com/${repo}/-/commit/${hash}`;
  return "";
}

/** `commit{author,branch,created_at,hash,message,tag,url}` of a run. */
export function commitInput(run: PolicyRunFacts, stack: Stack | null = null) {
  const hash = run.commitSha ?? "";
  return {
    author: run.commitAuthor,
    branch: run.branch,
    created_at: ns(run.commitAt),
    hash,
    message: run.commitMessage,
    tag: "",
    url: commitUrl(stack, hash),
  };
}

/**
 * `run{…}`. `creator_session` describes who started the run as far as the run records
 * it (`triggered_by`); `machine` is true for API keys (`api::…`) and system triggers.
 */
export function runInput(
  run: PolicyRunFacts,
  extra: { flags: string[]; changes?: unknown[]; stack?: Stack | null },
) {
  const by = run.triggeredBy ?? "";
  return {
    based_on_local_workspace: false,
    branch: run.branch,
    changes: extra.changes ?? [],
    command: run.command ?? "",
    commit: commitInput(run, extra.stack ?? null),
    created_at: ns(run.createdAt),
    creator_session: {
      admin: false,
      creator_ip: "",
      login: by,
      machine: by === "" || by.startsWith("api::"),
      name: by,
      teams: [] as string[],
    },
    drift_detection: run.driftDetection,
    flags: extra.flags,
    id: run.id,
    runtime_config: run.runtimeConfig ?? null,
    state: run.state,
    triggered_by: run.triggeredBy,
    type: run.type,
    updated_at: ns(run.updatedAt),
    user_provided_metadata: run.userMetadata,
  };
}

/** `stack{…}`: the same object in every input that has a stack. */
export function stackInput(stack: Stack, facts: PolicyStackFacts | null) {
  const space = facts?.space ?? null;
  const pool = facts?.workerPool ?? null;
  return {
    additional_project_globs: stack.additionalProjectGlobs,
    administrative: stack.administrative,
    autodeploy: stack.autodeploy,
    autoretry: stack.autoretry,
    branch: stack.branch,
    contexts: facts?.contexts ?? [],
    description: stack.description,
    id: stack.id,
    labels: stack.labels,
    locked_by: stack.lockedBy,
    name: stack.name,
    namespace: stack.namespace,
    project_root: stack.projectRoot,
    repository: stack.repository,
    space: space ?? { id: stack.spaceId, labels: [], name: stack.spaceId },
    state: facts?.state ?? "NONE",
    terraform_version: stack.toolVersion,
    terraform_workflow_tool: stack.workflowTool,
    tracked_commit: stack.trackedCommit
      ? {
          author: stack.trackedCommit.author ?? "",
          branch: stack.branch,
          created_at: ns(stack.trackedCommit.at),
          hash: stack.trackedCommit.sha,
          message: stack.trackedCommit.message ?? "",
          tag: "",
          url: commitUrl(stack, stack.trackedCommit.sha),
        }
      : null,
    // Spacelift's public pool has id/name null and public true; Stackyard has no public
    // pool, so a stack without a pool (the default pool) reads as that shape.
    worker_pool: pool
      ? { id: pool.id, labels: pool.labels, name: pool.name, public: false }
      : { id: null, labels: [] as string[], name: null, public: true },
  };
}

/**
 * `run.changes[]` from the plan's resource changes, in Spacelift's entity shape:
 * `action` added | changed | deleted (replacements as `destroy-Before-create-replaced`
 * or `create-Before-destroy-replaced`, by the order of terraform's actions), `entity`
 * with `type` the resource type and `entity_type` "resource", `data.values` the planned
 * values, `moved` when the address changed, `phase` "plan". No-ops are left out.
 */
export function changesOf(
  resourceChanges: ReadonlyArray<{
    address: string;
    previous_address?: string;
    type: string;
    name: string;
    change: { actions: readonly string[]; after?: unknown; before?: unknown };
  }>,
) {
  const ACTION: Record<string, string> = {
    create: "added",
    update: "changed",
    delete: "deleted",
    read: "read",
  };
  return resourceChanges
    .filter(
      (r) =>
        !(
          r.change.actions.length === 1 &&
          r.change.actions[0] === "no-op" &&
          !r.previous_address
        ),
    )
    .map((r) => {
      const [first, second] = r.change.actions;
      const action =
        first === "delete" && second === "create"
          ? "destroy-Before-create-replaced"
          : first === "create" && second === "delete"
            ? "create-Before-destroy-replaced"
            : first === "no-op"
              ? "moved"
              : (ACTION[first ?? ""] ?? first ?? "");
      return {
        action,
        entity: {
          address: r.address,
          data: {
            values:
              first === "delete" && !second ? r.change.before : r.change.after,
          },
          name: r.name,
          type: r.type,
          entity_vendor: "Terraform",
          entity_type: "resource",
        },
        moved: Boolean(r.previous_address && r.previous_address !== r.address),
        phase: "plan",
      };
    });
}

export interface PlanDocumentFacts {
  terraform_version: string;
  resource_changes: Array<{
    address: string;
    previous_address?: string;
    mode?: string;
    type: string;
    name: string;
    provider_name: string;
    change: { actions: string[]; before: unknown; after: unknown };
  }>;
}

/** PLAN: `spacelift{commit,request,run,previous_run,stack}` + `terraform{resource_changes,terraform_version}`. */
export function planInput(f: {
  run: PolicyRunFacts;
  previousRun: PolicyRunFacts | null;
  stack: Stack;
  facts: PolicyStackFacts | null;
  flags: string[];
  plan: PlanDocumentFacts;
  now: Date;
}) {
  return {
    spacelift: {
      commit: commitInput(f.run, f.stack),
      request: { timestamp_ns: ns(f.now) },
      run: runInput(f.run, {
        flags: f.flags,
        changes: changesOf(f.plan.resource_changes),
        stack: f.stack,
      }),
      previous_run: f.previousRun
        ? runInput(f.previousRun, { flags: [], stack: f.stack })
        : null,
      stack: stackInput(f.stack, f.facts),
    },
    terraform: {
      resource_changes: f.plan.resource_changes,
      terraform_version: f.plan.terraform_version,
    },
  };
}

export interface ReviewFacts {
  author: string;
  decision: "APPROVE" | "REJECT";
  note: string | null;
  state: string;
  createdAt: Date;
}

/**
 * APPROVAL: `reviews{current{approvals[],rejections[]},older[]}`, `run`, `stack`.
 *
 * - Only the newest review per author counts (an author who approved, then rejected,
 *   appears once, as a rejection).
 * - `current` holds reviews given since the run entered its current state
 *   (`stateSince`); `older` the rest, as one list (spacelift-reference §2: `older[]`).
 * - Each review: `author`, `author_roles` (the space roles Stackyard records for a
 *   review: none yet, so []), `request{remote_ip,timestamp_ns}` of the review,
 *   `session{…}` of its author (the LOGIN session shape, as far as a review records
 *   it), `state` (the run state reviewed), `state_version` (the run's state version at
 *   the time of the review) and `note`.
 */
export function approvalInput(f: {
  run: PolicyRunFacts;
  stack: Stack;
  facts: PolicyStackFacts | null;
  flags: string[];
  reviews: readonly ReviewFacts[];
  /** The run's transitions, oldest first (for each review's `state_version`). */
  history: ReadonlyArray<{ stateVersion: number; createdAt: Date }>;
  stateSince: Date;
  now: Date;
}) {
  const newest = new Map<string, ReviewFacts>();
  for (const r of [...f.reviews].sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime(),
  ))
    newest.set(r.author, r);
  const versionAt = (at: Date) =>
    f.history
      .filter((h) => h.createdAt.getTime() <= at.getTime())
      .reduce((v, h) => Math.max(v, h.stateVersion), 0);
  const shape = (r: ReviewFacts) => ({
    author: r.author,
    author_roles: [] as string[],
    note: r.note ?? "",
    request: { remote_ip: "", timestamp_ns: ns(r.createdAt) },
    session: {
      account_name: ACCOUNT_NAME,
      admin: false,
      creator_ip: "",
      login: r.author,
      machine: r.author.startsWith("api::"),
      member: true,
      name: r.author,
      teams: [] as string[],
    },
    state: r.state,
    state_version: versionAt(r.createdAt),
  });
  const current = [...newest.values()].filter(
    (r) => r.createdAt.getTime() >= f.stateSince.getTime(),
  );
  const older = [...newest.values()].filter(
    (r) => r.createdAt.getTime() < f.stateSince.getTime(),
  );
  return {
    reviews: {
      current: {
        approvals: current.filter((r) => r.decision === "APPROVE").map(shape),
        rejections: current.filter((r) => r.decision === "REJECT").map(shape),
      },
      older: older.map(shape),
    },
    run: runInput(f.run, { flags: f.flags, stack: f.stack }),
    stack: stackInput(f.stack, f.facts),
  };
}

/**
 * TRIGGER: `run{…,states_history[]{state,timestamp}}`, `stack`, `stacks[]{…,queued_runs}`
 * (every stack), `workflow[]{id,stack_id,state,type}`: the runs of the trigger chain the
 * run belongs to (the runs trigger policies started from a common first run, that run
 * included), oldest first.
 */
export function triggerInput(f: {
  run: PolicyRunFacts;
  history: ReadonlyArray<{ state: string; createdAt: Date }>;
  stack: Stack;
  facts: PolicyStackFacts | null;
  flags: string[];
  stacks: ReadonlyArray<{
    stack: Stack;
    facts: PolicyStackFacts | null;
    queuedRuns: number;
  }>;
  workflow: ReadonlyArray<{
    id: string;
    stackId: string;
    state: string;
    type: string;
  }>;
}) {
  return {
    run: {
      ...runInput(f.run, { flags: f.flags, stack: f.stack }),
      states_history: f.history.map((h) => ({
        state: h.state,
        timestamp: ns(h.createdAt),
      })),
    },
    stack: stackInput(f.stack, f.facts),
    stacks: f.stacks.map((s) => ({
      ...stackInput(s.stack, s.facts),
      queued_runs: s.queuedRuns,
    })),
    workflow: f.workflow.map((w) => ({
      id: w.id,
      stack_id: w.stackId,
      state: w.state,
      type: w.type,
    })),
  };
}

/** `account.name` / `session.account_name`: one installation is one account. */
export const ACCOUNT_NAME = ACCOUNT.name;

/** LOGIN: `request{remote_ip,timestamp_ns}`, `session{…}`, `spaces[]`, `roles[]`. */
export function loginInput(f: {
  remoteIp: string;
  now: Date;
  session: {
    login: string;
    name: string;
    machine: boolean;
    admin: boolean;
    teams: string[];
  };
  spaces: PolicySpaceFacts[];
  roles: Array<{ id: string; name: string; slug: string }>;
}) {
  return {
    request: { remote_ip: f.remoteIp, timestamp_ns: ns(f.now) },
    session: {
      account_name: ACCOUNT_NAME,
      admin: f.session.admin,
      creator_ip: f.remoteIp,
      login: f.session.login,
      machine: f.session.machine,
      member: true,
      name: f.session.name,
      teams: f.session.teams,
    },
    spaces: f.spaces,
    roles: f.roles.map((r) => ({ ...r, ulid: r.id })),
  };
}

/** One policy evaluated against a run, as `policy_receipts[]` lists it. */
export interface PolicyReceiptFacts {
  name: string;
  type: string;
  outcome: string;
  flags: string[];
}

/**
 * `run_updated.timing[]{state,duration}`: how long the run spent in each state it left,
 * in nanoseconds, oldest first (the current state, not left yet, is not listed).
 */
export function timingOf(
  history: ReadonlyArray<{ state: string; createdAt: Date }>,
): Array<{ state: string; duration: bigint }> {
  const out: Array<{ state: string; duration: bigint }> = [];
  for (let i = 0; i + 1 < history.length; i++) {
    const cur = history[i]!;
    const next = history[i + 1]!;
    const ms = Math.max(0, next.createdAt.getTime() - cur.createdAt.getTime());
    out.push({ state: cur.state, duration: BigInt(ms) * 1_000_000n });
  }
  return out;
}

/**
 * NOTIFICATION: `account{name}`, `webhook_endpoints[]{id,labels}`, `run_updated{state,
 * username,note,run,stack,timing,urls{run},policy_receipts,plan_policy_decision}`.
 *
 * - `webhook_endpoints` is [] while Stackyard has no named webhooks.
 * - `policy_receipts` is listed both under `run_updated` (spacelift-reference §2) and
 *   under `run_updated.run` (where Spacelift's notification policy page shows it).
 * - `plan_policy_decision{deny,warn}`: the messages of the run's latest plan policy
 *   evaluation ([] without one).
 * - `urls.run` is the run's page under the server's public URL.
 */
export function notificationInput(f: {
  run: PolicyRunFacts;
  stack: Stack;
  facts: PolicyStackFacts | null;
  flags: string[];
  note: string | null;
  username: string | null;
  history: ReadonlyArray<{ state: string; createdAt: Date }>;
  receipts: readonly PolicyReceiptFacts[];
  planDecision: { deny: string[]; warn: string[] };
  publicUrl: string;
}) {
  const receipts = f.receipts.map((r) => ({
    flags: r.flags,
    name: r.name,
    outcome: r.outcome,
    type: r.type,
  }));
  return {
    account: { name: ACCOUNT_NAME },
    webhook_endpoints: [] as Array<{ id: string; labels: string[] }>,
    run_updated: {
      state: f.run.state,
      username: f.username ?? "",
      note: f.note ?? "",
      run: {
        ...runInput(f.run, { flags: f.flags, stack: f.stack }),
        policy_receipts: receipts,
      },
      stack: stackInput(f.stack, f.facts),
      timing: timingOf(f.history),
      urls: {
        run: `${f.publicUrl.replace(/\/+$/, "")}/stack/${encodeURIComponent(f.stack.id)}/run/${encodeURIComponent(f.run.id)}`,
      },
      policy_receipts: receipts,
      plan_policy_decision: f.planDecision,
    },
  };
}
