import { access, constants, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { isResourceAddress, parseExact } from "@stackyard/protocol";
import {
  packWorkspace,
  unpackWorkspace,
} from "../workspace/workspace-archive.ts";
import {
  cloneRepository,
  createRunDirectory,
  resolveInside,
  resolveProjectRoot,
  WorkspaceError,
  writeMountedFiles,
  type RunDirectory,
} from "../workspace/workspace.ts";
import { LogMasker } from "./log-masker.ts";
import { planDocumentOf, summarizePlan } from "./plan-summary.ts";
import { runProcess, type ProcessResult } from "./process-runner.ts";
import { buildRunEnv, runSecrets } from "./run-env.ts";
import {
  applyRuntimeConfigFile,
  RuntimeConfigError,
} from "./runtime-config.ts";
import type {
  Executor,
  ExecutorEvents,
  HookName,
  PlanDocument,
  PlanSummary,
  RunOptions,
  RunOutcome,
  RunSpec,
  RunStatePhase,
} from "./run-spec.ts";
import {
  probeSandbox,
  sandboxPolicy,
  type SandboxStatus,
  type SandboxWrapper,
} from "./sandbox.ts";

export interface ProcessExecutorOptions {
  /**
   * How run processes (hooks, the tool, task commands) are isolated. Default: bubblewrap,
   * probed once at the first run (`probeSandbox`). "off": never, without a note (tests of
   * the executor itself).
   */
  sandbox?: "off" | SandboxStatus | Promise<SandboxStatus>;
  /**
   * STACKYARD_UNSANDBOXED_RUNS: when no sandbox can be had, run unsandboxed with a note
   * in the run log. Default false: every run fails, saying why.
   */
  allowUnsandboxed?: boolean;
  /** Hidden from runs even when under a mounted directory (the data dir of `up`). */
  hiddenPaths?: readonly string[];
  /** PATH for run processes, after binDir; default the standard system directories. */
  hostPath?: string;
}

export const DEFAULT_HOST_PATH =
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_GRACE_MS = 10_000;
const DEFAULT_RUN_TIMEOUT_MS = 70 * 60_000;
const DEFAULT_NO_LOG_TIMEOUT_MS = 7 * 60_000;
export const PLAN_FILE = "stackyard.plan";
export const BACKEND_OVERRIDE_FILE = "stackyard_backend_override.tf";
const BACKEND_OVERRIDE = `# Written by Stackyard: state lives in the stack's HTTP backend (TF_HTTP_* variables).
terraform {
  backend "http" {}
}
`;

/**
 * The default executor: runs a phase as child processes of the launcher, in a fresh
 * run directory under `workDir` (see workspace/workspace.ts for its layout).
 */
export function createProcessExecutor(
  options: ProcessExecutorOptions = {},
): Executor {
  const hostPath = options.hostPath ?? DEFAULT_HOST_PATH;
  let status: Promise<SandboxStatus | "off"> | null = null;
  const sandboxStatus = () =>
    (status ??= Promise.resolve(
      options.sandbox ??
        probeSandbox({
          searchPath: hostPath,
          hiddenPaths: options.hiddenPaths ?? [],
        }),
    ));
  return {
    run: async (spec, events, opts) => {
      const sandbox = await sandboxStatus();
      return new PhaseRun(spec, events, opts, {
        hostPath,
        ...sandboxPolicy(sandbox, options.allowUnsandboxed ?? false),
      }).execute();
    },
  };
}

/** A run-level failure: ends the phase with `failureReason` = message. */
class RunFailure extends Error {}

const HOOK_LABELS: Record<HookName, string> = {
  beforeInit: "before_init",
  afterInit: "after_init",
  beforePlan: "before_plan",
  afterPlan: "after_plan",
  beforeApply: "before_apply",
  afterApply: "after_apply",
  beforePerform: "before_perform",
  afterPerform: "after_perform",
  beforeDestroy: "before_destroy",
  afterDestroy: "after_destroy",
  afterRun: "after_run",
};

const EXPECTED_RUN_TYPES: Record<RunSpec["phase"], RunSpec["runType"][]> = {
  plan: ["TRACKED", "PROPOSED"],
  apply: ["TRACKED"],
  perform: ["TASK"],
  destroy: ["DESTROY"],
};

/**
 * One phase of one run.
 *
 * Ending: `opts.signal` (stop), the run timeout and the no-log timeout all abort one
 * internal controller; the running process gets the stop sequence and no further step
 * starts. `after_run` still runs (with TF_VAR_spacelift_final_run_state FINISHED,
 * FAILED or STOPPED) whenever the workspace was prepared, bounded by graceMs when the
 * run was aborted.
 */
class PhaseRun {
  readonly #masker: LogMasker;
  readonly #abort = new AbortController();
  readonly #graceMs: number;
  #abortReason: string | null = null;
  /** The abort came from `opts.signal`, not a timeout. */
  #stopped = false;
  #state: RunStatePhase;
  #noLogTimer: NodeJS.Timeout | null = null;
  #noLogMs: number;
  #dirs: RunDirectory | null = null;
  #projectDir: string | null = null;
  #env: Record<string, string> | null = null;
  #toolPath = "";

  constructor(
    /** Replaced once by the runtime configuration file's merge (#applyRuntimeConfig). */
    private spec: RunSpec,
    private readonly events: ExecutorEvents,
    private readonly opts: RunOptions,
    private readonly host: {
      hostPath: string;
      sandbox: SandboxWrapper | null;
      sandboxNote: string | null;
      refusal: string | null;
    },
  ) {
    this.#masker = new LogMasker(runSecrets(spec));
    this.#graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.#noLogMs = opts.noLogTimeoutMs ?? DEFAULT_NO_LOG_TIMEOUT_MS;
    this.#state =
      spec.phase === "apply"
        ? "APPLYING"
        : spec.phase === "perform" && spec.skipInit
          ? "PERFORMING"
          : isReplan(spec)
            ? "PREPARING_REPLAN"
            : "INITIALIZING";
  }

  async execute(): Promise<RunOutcome> {
    const onStop = () => {
      if (this.#abortReason === null) this.#stopped = true;
      this.#end("run stopped");
    };
    const runTimeoutMs = this.opts.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    const runTimer = setTimeout(
      () => this.#end(`run exceeded the ${formatMs(runTimeoutMs)} time limit`),
      runTimeoutMs,
    );
    if (this.opts.signal.aborted) onStop();
    else this.opts.signal.addEventListener("abort", onStop, { once: true });

    this.events.onState(this.#state);
    this.#touch();
    let outcome: RunOutcome;
    try {
      outcome = { ok: true, ...(await this.#phase()) };
    } catch (err) {
      outcome = { ok: false, failureReason: this.#describe(err) };
    }
    if (this.#abortReason !== null) {
      outcome = {
        ok: false,
        failureReason: this.#abortReason,
        ...(this.#stopped ? { stopped: true } : {}),
      };
    }
    if (!outcome.ok && outcome.failureReason)
      this.#info(
        `${outcome.stopped ? "stopped" : "failed"}: ${outcome.failureReason}`,
      );

    try {
      await this.#afterRun(
        outcome.stopped ? "STOPPED" : outcome.ok ? "FINISHED" : "FAILED",
      );
    } catch (err) {
      if (outcome.ok) {
        outcome = { ok: false, failureReason: this.#describe(err) };
        this.#info(`failed: ${outcome.failureReason}`);
      }
    } finally {
      clearTimeout(runTimer);
      if (this.#noLogTimer) clearTimeout(this.#noLogTimer);
      this.opts.signal.removeEventListener("abort", onStop);
      if (this.#dirs && !this.opts.keepWorkspace)
        await rm(this.#dirs.runDir, { recursive: true, force: true });
    }
    return outcome;
  }

  #describe(err: unknown): string {
    if (this.#abortReason !== null) return this.#abortReason;
    if (
      err instanceof RunFailure ||
      err instanceof WorkspaceError ||
      err instanceof RuntimeConfigError
    )
      return err.message;
    return `internal error: ${err instanceof Error ? err.message : String(err)}`;
  }

  #end(reason: string): void {
    if (this.#abortReason !== null) return;
    this.#abortReason = reason;
    this.#abort.abort(reason);
  }

  /** Restarts the no-log timer; every log line counts as a sign of life. */
  #touch(): void {
    if (this.#noLogTimer) clearTimeout(this.#noLogTimer);
    this.#noLogTimer = setTimeout(
      () => this.#end(`no log output for ${formatMs(this.#noLogMs)}`),
      this.#noLogMs,
    );
  }

  #enter(state: RunStatePhase): void {
    if (state === this.#state) return;
    this.#state = state;
    this.events.onState(state);
  }

  #log(line: string): void {
    this.#touch();
    this.events.onLog(this.#state, this.#masker.line(line));
  }

  /** A launcher message in the run log. */
  #info(message: string): void {
    this.#log(`[stackyard] ${message}`);
  }

  #checkAborted(): void {
    if (this.#abortReason !== null) throw new RunFailure(this.#abortReason);
  }

  async #phase(): Promise<Omit<RunOutcome, "ok">> {
    const { spec } = this;
    if (this.host.refusal) throw new RunFailure(this.host.refusal);
    if (!EXPECTED_RUN_TYPES[spec.phase].includes(spec.runType))
      throw new RunFailure(
        `phase "${spec.phase}" cannot run for a ${spec.runType} run`,
      );
    if (spec.phase === "perform" && !spec.command)
      throw new RunFailure("a task needs a command");
    if (isReplan(spec)) {
      if (spec.phase !== "plan" || spec.runType !== "TRACKED")
        throw new RunFailure(
          `a targeted replan is a plan of a tracked run, not phase "${spec.phase}" of a ${spec.runType} run`,
        );
      const bad = (spec.replanTargets ?? []).find((t) => !isResourceAddress(t));
      if (bad !== undefined)
        throw new RunFailure(
          `replan target ${JSON.stringify(bad)} is not a resource address`,
        );
    }
    if (this.host.sandboxNote) this.#info(this.host.sandboxNote);

    // The tool is chosen after the workspace is in place: the repository's runtime
    // configuration may set its version.
    if (spec.phase === "apply") {
      await this.#restoreWorkspace();
      this.#toolPath = await this.#findTool();
      await this.#hooks("beforeApply");
      await this.#tool(
        ["apply", "-input=false", "-no-color", "-auto-approve", PLAN_FILE],
        "apply",
      );
      await this.#hooks("afterApply");
      return {};
    }

    await this.#checkoutWorkspace();
    this.#toolPath = await this.#findTool();
    if (spec.phase !== "perform" || !spec.skipInit) await this.#init();

    if (spec.phase === "plan") return this.#plan();
    if (spec.phase === "perform") {
      this.#enter("PERFORMING");
      await this.#hooks("beforePerform");
      this.#info(`running the task command`);
      const result = await this.#run(["/bin/sh", "-c", spec.command ?? ""]);
      this.#checkAborted();
      if (result.exitCode !== 0)
        throw new RunFailure(`task command ${exitText(result)}`);
      await this.#hooks("afterPerform");
      return {};
    }
    this.#enter("DESTROYING");
    await this.#hooks("beforeDestroy");
    await this.#tool(
      ["destroy", "-auto-approve", "-input=false", "-no-color"],
      "destroy",
    );
    await this.#hooks("afterDestroy");
    return {};
  }

  async #init(): Promise<void> {
    // A replan goes PREPARING_REPLAN → PLANNING: its init is logged in PREPARING_REPLAN.
    this.#enter(isReplan(this.spec) ? "PREPARING_REPLAN" : "INITIALIZING");
    await this.#hooks("beforeInit");
    await this.#tool(["init", "-input=false", "-no-color"], "init");
    await this.#hooks("afterInit");
  }

  async #plan(): Promise<Omit<RunOutcome, "ok">> {
    const tracked = this.spec.runType === "TRACKED";
    this.#enter("PLANNING");
    await this.#hooks("beforePlan");
    const args = ["plan", "-input=false", "-no-color", `-out=${PLAN_FILE}`];
    args.push("-detailed-exitcode");
    if (!tracked) args.push("-lock=false");
    // Each target is one argv element (checked against RESOURCE_ADDRESS_PATTERN in
    // #phase); no shell ever sees it.
    const targets = this.spec.replanTargets ?? [];
    if (targets.length) {
      this.#info(`targeted replan of ${targets.join(", ")}`);
      for (const target of targets) args.push(`-target=${target}`);
    }
    const planned = await this.#tool(args, "plan", [0, 2]);
    const hasChanges = planned.exitCode === 2;

    const shown = await this.#tool(["show", "-json", PLAN_FILE], "show", [0], {
      capture: true,
    });
    let plan: PlanSummary;
    let planDocument: PlanDocument;
    try {
      // Exact numbers: attribute values reach plan policies as tofu wrote them.
      const json: unknown = parseExact(shown.stdout?.toString("utf8") ?? "");
      const mask = (s: string) => this.#masker.mask(s);
      plan = summarizePlan(json, hasChanges, mask);
      planDocument = planDocumentOf(json, mask);
    } catch (err) {
      throw new RunFailure(`reading the plan JSON: ${(err as Error).message}`);
    }
    this.#info(
      hasChanges
        ? `plan: ${plan.add} to add, ${plan.change} to change, ${plan.destroy} to destroy`
        : "plan: no changes",
    );
    await this.#hooks("afterPlan");
    if (!tracked || !hasChanges) return { plan, planDocument };

    const dirs = this.#requireDirs();
    const secretFiles = this.spec.mountedFiles
      .filter((f) => f.secret)
      .map((f) =>
        path
          .relative(
            dirs.workspaceRoot,
            resolveInside(dirs.workspaceRoot, f.relativePath),
          )
          .split(path.sep)
          .join("/"),
      );
    const workspaceArchive = await packWorkspace(
      dirs.workspaceRoot,
      secretFiles,
    );
    this.#info(
      `workspace archived for apply (${Math.ceil(workspaceArchive.length / 1024)} KiB)`,
    );
    return { plan, planDocument, workspaceArchive };
  }

  #requireDirs(): RunDirectory {
    if (!this.#dirs) throw new Error("run directory not prepared");
    return this.#dirs;
  }

  /** `<binDir>/<kind>-v<version>` when present, else `<binDir>/<kind>`. */
  async #findTool(): Promise<string> {
    const { kind, version } = this.spec.tool;
    const name = kind === "tofu" ? "OpenTofu" : "Terraform";
    const candidates = version
      ? [`${kind}-v${version.replace(/^v/, "")}`, kind]
      : [kind];
    for (const file of candidates) {
      const candidate = path.join(this.opts.binDir, file);
      try {
        await access(candidate, constants.X_OK);
        if (version && file === kind)
          this.#info(
            `${name} ${version} not found as ${candidates[0]}; using ${candidate}`,
          );
        return candidate;
      } catch {
        // try the next
      }
    }
    throw new RunFailure(
      `${name} binary not found: expected an executable at ${path.join(this.opts.binDir, kind)}`,
    );
  }

  async #checkoutWorkspace(): Promise<void> {
    const { spec } = this;
    const dirs = await this.#createDirs();
    const { url, branch, commitSha } = spec.repository;
    this.#info(
      `checking out ${commitSha ? `commit ${commitSha}` : `branch ${branch}`}`,
    );
    const sha = await cloneRepository({
      url,
      branch,
      commitSha,
      sourceDir: dirs.sourceDir,
      env: {
        PATH: this.host.hostPath,
        HOME: dirs.homeDir,
        GIT_TERMINAL_PROMPT: "0",
        GIT_CONFIG_NOSYSTEM: "1",
      },
      signal: this.#abort.signal,
      onLine: (line) => this.#log(line),
    });
    this.#checkAborted();
    await writeMountedFiles(dirs.workspaceRoot, spec.mountedFiles);
    await this.#applyRuntimeConfig(dirs);
    this.#projectDir = await resolveProjectRoot(
      dirs.sourceDir,
      this.spec.projectRoot,
    );
    if (spec.stateBackend)
      await writeFile(
        path.join(this.#projectDir, BACKEND_OVERRIDE_FILE),
        BACKEND_OVERRIDE,
      );
    this.#env = this.#buildEnv(sha);
  }

  async #restoreWorkspace(): Promise<void> {
    const { spec } = this;
    if (!this.opts.workspaceArchive)
      throw new RunFailure(
        "the apply phase needs the planned workspace archive",
      );
    const dirs = await this.#createDirs();
    this.#info("restoring the planned workspace");
    await unpackWorkspace(this.opts.workspaceArchive, dirs.workspaceRoot);
    await writeMountedFiles(
      dirs.workspaceRoot,
      spec.mountedFiles.filter((f) => f.secret),
    );
    // The archive holds the same source the plan read, so the apply merges the same file.
    await this.#applyRuntimeConfig(dirs);
    this.#projectDir = await resolveProjectRoot(
      dirs.sourceDir,
      this.spec.projectRoot,
    );
    try {
      await access(path.join(this.#projectDir, PLAN_FILE));
    } catch {
      throw new RunFailure(`the workspace archive holds no ${PLAN_FILE}`);
    }
    this.#env = this.#buildEnv(spec.repository.commitSha ?? "");
  }

  /** Merges `.spacelift/config.yml` into the spec (runtime-config.ts) and logs what it did. */
  async #applyRuntimeConfig(dirs: RunDirectory): Promise<void> {
    const applied = await applyRuntimeConfigFile(dirs.sourceDir, this.spec);
    this.spec = applied.spec;
    for (const note of applied.notes) this.#info(note);
  }

  async #createDirs(): Promise<RunDirectory> {
    this.#dirs = await createRunDirectory(
      this.opts.workDir,
      `${this.spec.runId}-${this.spec.phase}`,
    );
    return this.#dirs;
  }

  #buildEnv(commitSha: string): Record<string, string> {
    return buildRunEnv({
      spec: this.spec,
      dirs: this.#requireDirs(),
      binDir: this.opts.binDir,
      hostPath: this.host.hostPath,
      commitSha,
    });
  }

  /**
   * Runs a hook list as one script, Spacelift's way: `{ cmd1\n} && { cmd2\n}` (a
   * newline rather than `;` so a command may end in `&` or a comment). A failure fails
   * the phase, so a failed before-hook skips what it precedes.
   */
  async #hooks(
    name: HookName,
    extraEnv: Record<string, string> = {},
    signal = this.#abort.signal,
  ): Promise<void> {
    const commands = this.spec.hooks[name] ?? [];
    if (commands.length === 0) return;
    const label = HOOK_LABELS[name];
    this.#info(`running ${label} hooks`);
    const script = commands.map((c) => `{ ${c}\n}`).join(" && ");
    const result = await this.#run(["/bin/sh", "-c", script], {
      extraEnv,
      signal,
    });
    if (name !== "afterRun") this.#checkAborted();
    if (result.exitCode !== 0)
      throw new RunFailure(`${label} hook ${exitText(result)}`);
  }

  async #tool(
    args: string[],
    command: string,
    okCodes: number[] = [0],
    opts: { capture?: boolean } = {},
  ): Promise<ProcessResult> {
    const name = path.basename(this.#toolPath);
    if (!opts.capture) this.#info(`running ${name} ${args.join(" ")}`);
    const result = await this.#run([this.#toolPath, ...args], opts);
    this.#checkAborted();
    if (result.exitCode === null || !okCodes.includes(result.exitCode))
      throw new RunFailure(
        `${this.spec.tool.kind} ${command} ${exitText(result)}`,
      );
    return result;
  }

  async #run(
    argv: string[],
    opts: {
      capture?: boolean;
      extraEnv?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
  ): Promise<ProcessResult> {
    const dirs = this.#requireDirs();
    const cwd = this.#projectDir ?? dirs.workspaceRoot;
    const wrapped = this.host.sandbox
      ? this.host.sandbox(argv, {
          runDir: dirs.runDir,
          workDir: path.resolve(this.opts.workDir),
          binDir: path.resolve(this.opts.binDir),
          cwd,
        })
      : argv;
    const result = await runProcess({
      argv: wrapped,
      cwd,
      env: { ...this.#env, ...opts.extraEnv },
      onLine: (line) => this.#log(line),
      captureStdout: opts.capture ?? false,
      signal: opts.signal ?? this.#abort.signal,
      graceMs: this.#graceMs,
    });
    if (result.spawnError && !result.aborted)
      throw new RunFailure(`starting ${argv[0]}: ${result.spawnError.message}`);
    return result;
  }

  /** Runs after_run hooks once the workspace exists; bounded by graceMs after an abort. */
  async #afterRun(finalState: string): Promise<void> {
    if (!this.#env || !(this.spec.hooks.afterRun?.length ?? 0)) return;
    const signal =
      this.#abortReason === null
        ? this.#abort.signal
        : AbortSignal.timeout(this.#graceMs);
    await this.#hooks(
      "afterRun",
      { TF_VAR_spacelift_final_run_state: finalState },
      signal,
    );
  }
}

/** A plan phase limited to `replanTargets` (a targeted replan). */
function isReplan(spec: RunSpec): boolean {
  return (spec.replanTargets?.length ?? 0) > 0;
}

function exitText(result: ProcessResult): string {
  if (result.exitSignal) return `was killed by ${result.exitSignal}`;
  return `failed with exit code ${result.exitCode}`;
}

function formatMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
