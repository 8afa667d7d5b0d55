import { access, constants } from "node:fs/promises";
import path from "node:path";
import type { KeyObject } from "node:crypto";
import {
  open,
  seal,
  type RunAssign,
  type RunAssignSpec,
  type RunEvent,
  type RunStop,
} from "@stackyard/protocol";
import type {
  Executor,
  PlanDocument,
  PlanSummary,
  RunOptions,
  RunSpec,
} from "./executor/index.ts";
import type { Logger } from "./log.ts";
import { RunReporter, type RunReporterOptions } from "./run-reporter.ts";
import {
  WorkerApiAbortedError,
  WorkerApiClient,
  type RetryPolicy,
} from "./worker-api-client.ts";

export interface RunRunnerOptions {
  executor: Executor;
  /** Opens the sealed values of `run.assign` and the planned workspace. */
  poolPrivateKey: KeyObject | string;
  /** Seals the planned workspace. */
  poolPublicKey: KeyObject | string;
  /** Parent of the per-run directories. */
  workDir: string;
  /** Directory of the tofu/terraform binaries; null = look each run's tool up on searchPath. */
  binDir: string | null;
  searchPath: string;
  log: Logger;
  /** Called with the run id when a run starts and with null when the worker is free again. */
  onBusy(runId: string | null): void;
  /** Worker API retries; tests shorten them. */
  retry?: Partial<RetryPolicy>;
  /** Log batching. */
  reporter?: RunReporterOptions;
  /** Passed on to every executor run. */
  runOptions?: Pick<RunOptions, "graceMs" | "runTimeoutMs" | "noLogTimeoutMs">;
}

type PhaseResult = Omit<Extract<RunEvent, { type: "result" }>, "type">;

interface ActiveRun {
  runId: string;
  /** Assignments of this run already taken (running, queued or done). */
  seen: Set<number>;
  /** Further phases (autodeploy: apply after plan), run after the current one. */
  queue: RunAssign[];
  phase: { abort: AbortController; shutdown: boolean } | null;
}

const FAILURE_REASON_MAX = 4000;
/** Assignments remembered after their run ended, so a redelivered run.assign is not run twice. */
const RECENT_ASSIGNMENTS = 200;

/**
 * Executes the runs the server assigns to this worker, one at a time.
 *
 * Invariant: at most one run is active. A `run.assign` while idle starts it (BUSY at
 * once). While active, an assign for the same run and a new `assignment` (the next
 * phase, e.g. autodeploy's apply) is queued behind the current phase; a redelivered
 * assign (same run and assignment, also shortly after it ended) is ignored; an assign
 * for another run is ignored with a warning, because the server hands a worker one run
 * at a time. The worker reports IDLE (or DRAINED) only when the run's queue is empty.
 *
 * A phase: open the sealed values with the pool key, fetch and open the planned
 * workspace (apply), execute, ship states and logs in order (RunReporter), upload the
 * sealed workspace when the plan produced one, and post the result only after every
 * log chunk and the workspace were acknowledged. Problems of the run (a box sealed to
 * another key, a missing workspace, a failing tool) end in `result ok:false` with the
 * reason; nothing here throws to the caller.
 *
 * Shutdown: `shutdown()` stops taking new runs and waits for the active one; after the
 * grace period it stops the current phase, drops queued ones, and still reports.
 */
export class RunRunner {
  #active: ActiveRun | null = null;
  #accepting = true;
  #idleWaiters: Array<() => void> = [];
  readonly #recent = new Set<string>();
  readonly #log: Logger;

  constructor(private readonly opts: RunRunnerOptions) {
    this.#log = opts.log;
  }

  /** The run being executed, if any. */
  get currentRunId(): string | null {
    return this.#active?.runId ?? null;
  }

  handle(msg: RunAssign | RunStop): void {
    if (msg.type === "run.assign") this.assign(msg);
    else this.stop(msg);
  }

  assign(msg: RunAssign): void {
    const key = `${msg.runId}#${msg.assignment}`;
    const log = this.#log.child({
      runId: msg.runId,
      assignment: msg.assignment,
    });
    const active = this.#active;
    if (active?.runId === msg.runId) {
      if (active.seen.has(msg.assignment)) {
        log.debug("ignored a duplicate run.assign");
        return;
      }
      active.seen.add(msg.assignment);
      active.queue.push(msg);
      log.info(
        { phase: msg.spec.phase },
        "queued the next phase of the current run",
      );
      return;
    }
    if (this.#recent.has(key)) {
      log.debug("ignored a duplicate run.assign of a finished phase");
      return;
    }
    if (active) {
      log.warn(
        { currentRunId: active.runId },
        "ignored run.assign for another run: this worker is busy",
      );
      return;
    }
    if (!this.#accepting) {
      log.warn("ignored run.assign: this worker is shutting down");
      return;
    }
    const run: ActiveRun = {
      runId: msg.runId,
      seen: new Set([msg.assignment]),
      queue: [msg],
      phase: null,
    };
    this.#active = run;
    this.opts.onBusy(msg.runId);
    void this.#drive(run);
  }

  stop(msg: RunStop): void {
    const active = this.#active;
    if (active?.runId !== msg.runId) {
      this.#log.debug(
        { runId: msg.runId },
        "ignored run.stop for a run this worker is not executing",
      );
      return;
    }
    this.#log.info(
      { runId: msg.runId, reason: msg.reason },
      "stopping the run",
    );
    active.queue.length = 0;
    active.phase?.abort.abort(msg.reason);
  }

  /** Resolves when no run is active. */
  whenIdle(): Promise<void> {
    if (!this.#active) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops taking new runs and waits for the active one (its queued phases included)
   * for up to `graceMs` (Infinity: as long as it takes); then stops the current phase,
   * which is reported as failed, drops queued phases, and waits for the report. Calling
   * it again with a shorter grace (a second SIGTERM) shortens the wait.
   */
  async shutdown(opts: { graceMs: number; reason: string }): Promise<void> {
    this.#accepting = false;
    const active = this.#active;
    if (!active) return;
    const idle = this.whenIdle();
    if (opts.graceMs !== Infinity) {
      this.#log.info(
        { runId: active.runId, graceMs: opts.graceMs },
        "shutting down: waiting for the current run to finish",
      );
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        idle.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), opts.graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut && this.#active === active) {
        this.#log.warn(
          { runId: active.runId, graceMs: opts.graceMs },
          "shutdown grace period is over: stopping the current run",
        );
        active.queue.length = 0;
        if (active.phase) {
          active.phase.shutdown = true;
          active.phase.abort.abort(
            `the worker shut down (${opts.reason}) before the run finished`,
          );
        }
      }
    }
    await idle;
  }

  async #drive(run: ActiveRun): Promise<void> {
    try {
      for (let next = run.queue.shift(); next; next = run.queue.shift()) {
        run.phase = { abort: new AbortController(), shutdown: false };
        await this.#executePhase(next, run.phase);
        run.phase = null;
        this.#remember(`${next.runId}#${next.assignment}`);
      }
    } catch (err) {
      this.#log.error({ err, runId: run.runId }, "run execution failed");
    } finally {
      this.#active = null;
      this.opts.onBusy(null);
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  #remember(key: string): void {
    this.#recent.add(key);
    if (this.#recent.size > RECENT_ASSIGNMENTS) {
      const oldest = this.#recent.values().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
  }

  async #executePhase(
    msg: RunAssign,
    phase: NonNullable<ActiveRun["phase"]>,
  ): Promise<void> {
    const log = this.#log.child({
      runId: msg.runId,
      assignment: msg.assignment,
      phase: msg.spec.phase,
    });
    log.info("run phase started");
    const api = new WorkerApiClient({
      apiUrl: msg.apiUrl,
      runId: msg.runId,
      runToken: openRunToken(msg, this.opts.poolPrivateKey),
      log,
      ...(this.opts.retry ? { retry: this.opts.retry } : {}),
    });
    const reporter = new RunReporter(
      api,
      msg.assignment,
      log,
      this.opts.reporter,
    );

    let result = await this.#runPhase(msg, phase, api, reporter, log);
    await reporter.drain();

    // The document goes before the result, so a run that the server moves on from its
    // plan (confirmation, plan policies) always has its changes stored.
    if (result.ok && result.planDocument) {
      try {
        await api.putPlan({
          assignment: msg.assignment,
          document: result.planDocument,
        });
      } catch (err) {
        result = {
          ...result,
          ok: false,
          failureReason: `uploading the plan's resource changes: ${(err as Error).message}`,
        };
      }
    }

    if (result.workspaceArchive) {
      try {
        await api.putWorkspace(
          seal(this.opts.poolPublicKey, result.workspaceArchive),
        );
      } catch (err) {
        result = {
          ...result,
          ok: false,
          failureReason: `uploading the planned workspace: ${(err as Error).message}`,
        };
      }
    }

    const event: RunEvent = {
      type: "result",
      assignment: msg.assignment,
      phase: msg.spec.phase,
      ok: result.ok,
      stopped: result.stopped,
      failureReason:
        result.failureReason === null
          ? null
          : truncate(result.failureReason, FAILURE_REASON_MAX),
      plan: result.plan,
    };
    try {
      await api.postEvent(event);
    } catch {
      // WorkerApiClient logged it; the server finds out from the worker's heartbeats.
    }
    log.info(
      {
        ok: event.ok,
        stopped: event.stopped,
        failureReason: event.failureReason,
      },
      "run phase finished",
    );
  }

  async #runPhase(
    msg: RunAssign,
    phase: NonNullable<ActiveRun["phase"]>,
    api: WorkerApiClient,
    reporter: RunReporter,
    log: Logger,
  ): Promise<
    Omit<PhaseResult, "assignment" | "phase"> & {
      workspaceArchive?: Buffer;
      planDocument?: PlanDocument;
    }
  > {
    const failed = (failureReason: string) => ({
      ok: false,
      stopped: false,
      failureReason,
      plan: null,
    });
    const { signal } = phase.abort;
    const abortedResult = () =>
      phase.shutdown
        ? failed(String(signal.reason))
        : { ...failed(`run stopped: ${String(signal.reason)}`), stopped: true };

    let spec: RunSpec;
    try {
      spec = openSpec(msg.spec, this.opts.poolPrivateKey);
    } catch (err) {
      log.warn(
        { err: (err as Error).message },
        "cannot open the run's secrets",
      );
      return failed(`cannot open the run's secrets: ${(err as Error).message}`);
    }

    let workspaceArchive: Buffer | undefined;
    if (msg.needsWorkspace) {
      try {
        const box = await api.getWorkspace(signal);
        workspaceArchive = open(this.opts.poolPrivateKey, box);
      } catch (err) {
        if (err instanceof WorkerApiAbortedError) return abortedResult();
        return failed(
          `fetching the planned workspace: ${(err as Error).message}`,
        );
      }
    }

    let localWorkspace: RunOptions["localWorkspace"];
    if (msg.spec.localWorkspace && msg.spec.phase !== "apply") {
      try {
        localWorkspace = {
          id: msg.spec.localWorkspace.id,
          archive: await api.getLocalWorkspace(signal),
        };
      } catch (err) {
        if (err instanceof WorkerApiAbortedError) return abortedResult();
        return failed(
          `fetching the local preview's workspace: ${(err as Error).message}`,
        );
      }
    }

    const binDir = await findToolDir(
      spec.tool,
      this.opts.binDir,
      this.opts.searchPath,
    );
    if (!binDir) {
      const name = spec.tool.kind === "tofu" ? "OpenTofu" : "Terraform";
      return failed(
        `${name} binary not found: no ${spec.tool.kind} on this worker's PATH; set STACKYARD_BIN_DIR to the directory holding it`,
      );
    }

    try {
      const outcome = await this.opts.executor.run(
        spec,
        {
          onState: (state) => reporter.state(state),
          onLog: (state, line) => reporter.line(state, line),
        },
        {
          ...this.opts.runOptions,
          workDir: this.opts.workDir,
          binDir,
          signal,
          ...(workspaceArchive ? { workspaceArchive } : {}),
          ...(localWorkspace ? { localWorkspace } : {}),
        },
      );
      if (signal.aborted && !outcome.ok)
        return { ...abortedResult(), plan: toPlan(outcome.plan) };
      return {
        ok: outcome.ok,
        stopped: outcome.stopped ?? false,
        failureReason: outcome.ok ? null : (outcome.failureReason ?? null),
        plan: toPlan(outcome.plan),
        ...(outcome.workspaceArchive
          ? { workspaceArchive: outcome.workspaceArchive }
          : {}),
        ...(outcome.planDocument ? { planDocument: outcome.planDocument } : {}),
      };
    } catch (err) {
      log.error({ err }, "the executor failed");
      return failed(`internal error: ${(err as Error).message}`);
    }
  }
}

/**
 * The result event's summary: counts and addresses only. Attribute values travel in the
 * plan document (PUT .../plan), which has no size limit of an event.
 */
function toPlan(plan: PlanSummary | undefined): PhaseResult["plan"] {
  if (!plan) return null;
  return {
    ...plan,
    resources: plan.resources.map((r) => ({
      address: r.address,
      actions: r.actions,
    })),
  };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The worker API bearer token of `run.assign`, sealed to the pool key. A box that does
 * not open (another pool's key) throws; the run is then left to the server's pickup
 * timeout, since without its token nothing can be reported.
 */
export function openRunToken(
  msg: Pick<RunAssign, "runToken">,
  privateKey: KeyObject | string,
): string {
  try {
    return open(privateKey, msg.runToken.value).toString("utf8");
  } catch (err) {
    throw new Error(
      `the run token of run.assign does not open with this pool's private key: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * The executor's RunSpec from the protocol's: sealed values opened with the pool's
 * private key, mounted file contents as `contentBase64`. Throws naming the value
 * (never its content) when a box does not open.
 */
export function openSpec(
  spec: RunAssignSpec,
  privateKey: KeyObject | string,
): RunSpec {
  const reveal = (
    value: { sealed: boolean; value: string },
    what: string,
  ): string => {
    if (!value.sealed) return value.value;
    try {
      return open(privateKey, value.value).toString("utf8");
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    runId: spec.runId,
    stackId: spec.stackId,
    runType: spec.runType,
    phase: spec.phase,
    // A sealed clone URL (credentials from a VCS integration) replaces the plain one.
    repository: {
      url: spec.repository.cloneUrl
        ? reveal(spec.repository.cloneUrl, "repository clone URL")
        : spec.repository.url,
      commitSha: spec.repository.commitSha,
      branch: spec.repository.branch,
    },
    projectRoot: spec.projectRoot,
    tool: { ...spec.tool },
    environment: spec.environment.map((e) => ({
      name: e.name,
      value: reveal(e.value, `environment variable ${e.name}`),
      secret: e.secret,
    })),
    mountedFiles: spec.mountedFiles.map((f) => ({
      relativePath: f.relativePath,
      contentBase64: reveal(f.content, `mounted file ${f.relativePath}`),
      secret: f.secret,
    })),
    hooks: spec.hooks,
    stateBackend: spec.stateBackend && {
      address: spec.stateBackend.address,
      username: spec.stateBackend.username,
      password: reveal(spec.stateBackend.password, "state backend password"),
    },
    command: spec.command,
    skipInit: spec.skipInit,
    computed: spec.computed,
    ...(spec.replanTargets?.length
      ? { replanTargets: [...spec.replanTargets] }
      : {}),
    ...(spec.runtimeConfigYaml !== undefined
      ? { runtimeConfigYaml: spec.runtimeConfigYaml }
      : {}),
  };
}

/**
 * The directory to run `tool` from: `binDir` when configured, else the first PATH
 * directory holding `<kind>-v<version>`, else the first holding `<kind>`.
 */
export async function findToolDir(
  tool: RunSpec["tool"],
  binDir: string | null,
  searchPath: string,
): Promise<string | null> {
  if (binDir) return binDir;
  const names = tool.version
    ? [`${tool.kind}-v${tool.version.replace(/^v/, "")}`, tool.kind]
    : [tool.kind];
  const dirs = searchPath.split(path.delimiter).filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      try {
        await access(path.join(dir, name), constants.X_OK);
        return dir;
      } catch {
        // keep looking
      }
    }
  }
  return null;
}
