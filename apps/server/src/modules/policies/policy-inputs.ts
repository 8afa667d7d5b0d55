import type { Stack } from "../stacks/index.ts";

/**
 * Input documents, key for key as spacelift-reference §2 lists them, so policies written
 * for Spacelift read the same paths. Timestamps are Unix nanoseconds (`*_ns`) or seconds
 * (`created_at`, `updated_at`) as in Spacelift's samples. Pure: callers load the facts.
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

const sec = (d: Date | null) => (d ? Math.floor(d.getTime() / 1000) : 0);
const ns = (d: Date) => d.getTime() * 1_000_000;

export function commitInput(run: PolicyRunFacts) {
  return {
    author: run.commitAuthor,
    branch: run.branch,
    created_at: sec(run.commitAt),
    hash: run.commitSha ?? "",
    message: run.commitMessage,
  };
}

export function runInput(
  run: PolicyRunFacts,
  extra: { flags: string[]; changes?: unknown[] },
) {
  return {
    based_on_local_workspace: false,
    changes: extra.changes ?? [],
    command: run.command ?? "",
    commit: commitInput(run),
    created_at: sec(run.createdAt),
    drift_detection: run.driftDetection,
    flags: extra.flags,
    id: run.id,
    runtime_config: run.runtimeConfig ?? null,
    state: run.state,
    triggered_by: run.triggeredBy,
    type: run.type,
    updated_at: sec(run.updatedAt),
    user_provided_metadata: run.userMetadata,
  };
}

export function stackInput(stack: Stack, space: PolicySpaceFacts | null) {
  return {
    administrative: stack.administrative,
    autodeploy: stack.autodeploy,
    autoretry: stack.autoretry,
    branch: stack.branch,
    description: stack.description,
    id: stack.id,
    labels: stack.labels,
    locked_by: stack.lockedBy,
    name: stack.name,
    namespace: stack.namespace,
    project_root: stack.projectRoot,
    repository: stack.repository,
    space: space ?? { id: stack.spaceId, labels: [], name: stack.spaceId },
    terraform_version: stack.toolVersion,
    tracked_commit: stack.trackedCommit
      ? {
          author: stack.trackedCommit.author ?? "",
          branch: stack.branch,
          created_at: sec(stack.trackedCommit.at),
          hash: stack.trackedCommit.sha,
          message: stack.trackedCommit.message ?? "",
        }
      : null,
    worker_pool: stack.workerPoolId
      ? {
          id: stack.workerPoolId,
          labels: [],
          name: stack.workerPoolId,
          public: false,
        }
      : null,
  };
}

/** `run.changes[]` from the plan's resource changes (Spacelift's entity shape). */
function changesOf(
  resourceChanges: ReadonlyArray<{
    address: string;
    type: string;
    name: string;
    change: { actions: readonly string[] };
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
        !(r.change.actions.length === 1 && r.change.actions[0] === "no-op"),
    )
    .map((r) => ({
      action:
        r.change.actions.length > 1
          ? "replaced"
          : (ACTION[r.change.actions[0] ?? ""] ?? r.change.actions[0]),
      entity: {
        address: r.address,
        data: {},
        name: r.name,
        type: "resource",
        entity_vendor: "Terraform",
        entity_type: r.type,
      },
      phase: "plan",
    }));
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
  space: PolicySpaceFacts | null;
  flags: string[];
  plan: PlanDocumentFacts;
  now: Date;
}) {
  return {
    spacelift: {
      commit: commitInput(f.run),
      request: { timestamp_ns: ns(f.now) },
      run: runInput(f.run, {
        flags: f.flags,
        changes: changesOf(f.plan.resource_changes),
      }),
      previous_run: f.previousRun
        ? runInput(f.previousRun, { flags: [] })
        : null,
      stack: stackInput(f.stack, f.space),
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
 * APPROVAL: `reviews{current{approvals[],rejections[]},older[]}`, `run`, `stack`. Only
 * the newest review per author counts; `current` holds reviews given since the run
 * entered its current state (`stateSince`), `older` the rest.
 */
export function approvalInput(f: {
  run: PolicyRunFacts;
  stack: Stack;
  space: PolicySpaceFacts | null;
  flags: string[];
  reviews: readonly ReviewFacts[];
  stateSince: Date;
  now: Date;
}) {
  const newest = new Map<string, ReviewFacts>();
  for (const r of [...f.reviews].sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime(),
  ))
    newest.set(r.author, r);
  const shape = (r: ReviewFacts) => ({
    author: r.author,
    author_roles: [],
    note: r.note ?? "",
    request: { remote_ip: "", timestamp_ns: ns(r.createdAt) },
    session: { login: r.author, name: r.author, teams: [] },
    state: r.state,
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
    run: runInput(f.run, { flags: f.flags }),
    stack: stackInput(f.stack, f.space),
    request: { timestamp_ns: ns(f.now) },
  };
}

/** TRIGGER: `run{…,states_history}`, `stack`, `stacks[]{…,queued_runs}`, `workflow[]`. */
export function triggerInput(f: {
  run: PolicyRunFacts;
  history: ReadonlyArray<{ state: string; createdAt: Date }>;
  stack: Stack;
  space: PolicySpaceFacts | null;
  flags: string[];
  stacks: ReadonlyArray<{ stack: Stack; queuedRuns: number }>;
}) {
  return {
    run: {
      ...runInput(f.run, { flags: f.flags }),
      states_history: f.history.map((h) => ({
        state: h.state,
        timestamp: sec(h.createdAt),
      })),
    },
    stack: stackInput(f.stack, f.space),
    stacks: f.stacks.map((s) => ({
      ...stackInput(s.stack, null),
      queued_runs: s.queuedRuns,
    })),
    workflow: [],
  };
}

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
      account_name: "stackyard",
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

/** NOTIFICATION: `account`, `webhook_endpoints[]`, `run_updated{…}`. */
export function notificationInput(f: {
  run: PolicyRunFacts;
  stack: Stack;
  space: PolicySpaceFacts | null;
  flags: string[];
  note: string | null;
  username: string | null;
  publicUrl: string;
}) {
  return {
    account: { name: "stackyard" },
    webhook_endpoints: [],
    run_updated: {
      state: f.run.state,
      username: f.username ?? "",
      note: f.note ?? "",
      run: runInput(f.run, { flags: f.flags }),
      stack: stackInput(f.stack, f.space),
      timing: [],
      urls: {
        run: `${f.publicUrl}/stack/${f.stack.id}/run/${f.run.id}`,
      },
      policy_receipts: [],
    },
  };
}
