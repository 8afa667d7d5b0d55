/**
 * The contract between the launcher and whatever executes a run (a local process tree
 * today; Docker or Kubernetes later). Everything here is plain JSON except the
 * workspace archive bytes, so packages/protocol can mirror it with a zod schema.
 */

import type { PlanDocument } from "@stackyard/protocol";

export type { PlanDocument };

/** Hook lists, Spacelift's `before_*`/`after_*` in camelCase. */
export type HookName =
  | "beforeInit"
  | "afterInit"
  | "beforePlan"
  | "afterPlan"
  | "beforeApply"
  | "afterApply"
  | "beforePerform"
  | "afterPerform"
  | "beforeDestroy"
  | "afterDestroy"
  | "afterRun";

export interface RunSpec {
  runId: string;
  stackId: string;
  runType: "TRACKED" | "PROPOSED" | "TASK" | "DESTROY";
  /**
   * What this process executes.
   * - "plan": clone + init + plan (TRACKED/PROPOSED).
   * - "apply": restore the planned workspace (`RunOptions.workspaceArchive`) and apply the saved plan.
   * - "perform": clone + init (unless skipInit) + task command (TASK).
   * - "destroy": clone + init + destroy (DESTROY).
   */
  phase: "plan" | "apply" | "perform" | "destroy";
  /** Any git URL, including local paths and file://. `commitSha` null = head of `branch`. */
  repository: { url: string; commitSha: string | null; branch: string };
  /** Relative to the repository root; "" = the root. */
  projectRoot: string;
  /**
   * The executor runs `<binDir>/<kind>-v<version>` when that file exists, else
   * `<binDir>/<kind>`; installing versions is the toolchain's job.
   */
  tool: { kind: "tofu" | "terraform"; version: string | null };
  /**
   * Names prefixed `ro_` reach only read phases (plan, perform) and `wo_` only write
   * phases (apply, destroy); the prefix is stripped. Secret values are masked in logs.
   */
  environment: Array<{ name: string; value: string; secret: boolean }>;
  /**
   * Relative to the workspace root (Spacelift's /mnt/workspace); the repository is
   * cloned into `source/`, so `source/main.tf` overrides the committed main.tf.
   * Secret files get mode 0600 and are left out of the workspace archive (the apply
   * phase writes them again).
   */
  mountedFiles: Array<{
    relativePath: string;
    contentBase64: string;
    secret: boolean;
  }>;
  /** Each list runs as one `sh -c` script: `{ cmd1\n} && { cmd2\n}`. */
  hooks: Partial<Record<HookName, string[]>>;
  /**
   * HTTP state backend; null = whatever the configuration declares (local state when
   * nothing). The address serves GET/POST for state and LOCK/UNLOCK for locking.
   */
  stateBackend: { address: string; username: string; password: string } | null;
  /** TASK only: the command, run as `sh -c <command>` in the project root. */
  command: string | null;
  skipInit: boolean;
  /** Extra computed variables from the server; set after the executor's own. */
  computed: Record<string, string>;
  /**
   * Phase "plan" of a targeted replan: plan only these resource addresses (one
   * `-target=<address>` argument each, never through a shell); checkout and init are
   * reported in PREPARING_REPLAN instead of INITIALIZING. Absent or empty: full plan.
   */
  replanTargets?: string[];
  /**
   * The run's own runtime configuration (`spacectl --runtime-config`), YAML in the
   * `.spacelift/config.yml` format, merged over the repository's file (runtime-config.ts).
   */
  runtimeConfigYaml?: string;
}

export type RunStatePhase =
  | "PREPARING_REPLAN"
  | "INITIALIZING"
  | "PLANNING"
  | "APPLYING"
  | "PERFORMING"
  | "DESTROYING";

export interface ExecutorEvents {
  /** Entering a state: logs are grouped by state. Called before any log line of it. */
  onState(state: RunStatePhase): void;
  /** One masked line (no trailing newline), in order. */
  onLog(state: RunStatePhase, line: string): void;
}

export interface PlanSummary {
  hasChanges: boolean;
  /** Terraform's "Plan: N to add, N to change, N to destroy"; a replace counts in add and destroy. */
  add: number;
  change: number;
  destroy: number;
  /**
   * Resources whose actions are not ["no-op"]. `before`/`after` have sensitive values
   * replaced by "(sensitive)", unknown ones by "(known after apply)", and secret
   * strings masked.
   */
  resources: Array<{
    address: string;
    actions: string[];
    before: unknown;
    after: unknown;
  }>;
  /** Outputs whose actions are not ["no-op"]. */
  outputs: Array<{ name: string; actions: string[] }>;
}

export interface RunOutcome {
  ok: boolean;
  failureReason?: string;
  plan?: PlanSummary;
  /**
   * Plan phase: the masked per-resource changes (`tofu show -json`), for the server's
   * diff view and plan policies.
   */
  planDocument?: PlanDocument;
  /**
   * Plan phase of a TRACKED run with changes: the workspace root as tar.gz, to pass
   * back as `RunOptions.workspaceArchive` for the apply phase. It holds the source,
   * `.terraform`, the lock file and the saved plan (which can contain variable values),
   * so store it encrypted. Secret mounted files and state credentials are not in it.
   */
  workspaceArchive?: Buffer;
  /** The run was stopped through `RunOptions.signal`. */
  stopped?: boolean;
}

export interface RunOptions {
  /** Parent of the per-run directories. */
  workDir: string;
  /** Holds the `tofu`/`terraform` binaries. */
  binDir: string;
  /** Aborting stops the run: SIGINT, SIGTERM after graceMs, SIGKILL after 2 × graceMs. */
  signal: AbortSignal;
  /** Default 10 000. */
  graceMs?: number;
  /** Phase "apply" only (required there): `RunOutcome.workspaceArchive` of the plan phase. */
  workspaceArchive?: Buffer;
  /**
   * A local preview: the uploaded archive (gzip tar, every entry under `<id>/`) is the
   * repository instead of a clone of `spec.repository`; `<id>/` becomes the source
   * directory and `projectRoot` applies inside it.
   */
  localWorkspace?: { id: string; archive: Buffer };
  /** Fail the run after this long; default 70 min (Spacelift's launcher run timeout). */
  runTimeoutMs?: number;
  /** Fail the run when no log line came for this long; default 7 min. */
  noLogTimeoutMs?: number;
  /** Keep the run directory after the run (debugging, tests); default false = delete it. */
  keepWorkspace?: boolean;
}

export interface Executor {
  /**
   * Executes one phase of a run. Never rejects for problems of the run itself (bad
   * repository, failing hook, tool error, stop, timeout): those come back as
   * `{ ok: false, failureReason }`.
   */
  run(
    spec: RunSpec,
    events: ExecutorEvents,
    opts: RunOptions,
  ): Promise<RunOutcome>;
}
