/**
 * The launcher: runs on worker hosts, connects to the server's MQTT broker with a pool
 * token, registers and heartbeats, and executes the runs assigned to it (RunRunner),
 * reporting over the worker API. It never touches the database and shares only
 * `@stackyard/protocol` with the server.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import pkg from "../package.json" with { type: "json" };
import { loadLauncherConfig } from "./config.ts";
import {
  LauncherConnection,
  type LauncherConnectionOptions,
  type LauncherExit,
} from "./connection.ts";
import {
  createProcessExecutor,
  DEFAULT_HOST_PATH,
  probeSandbox,
  type Executor,
} from "./executor/index.ts";
import { createLauncherLogger, type Logger } from "./log.ts";
import { RunRunner, type RunRunnerOptions } from "./run-runner.ts";

export const LAUNCHER_VERSION: string = pkg.version;

export interface LauncherHandle {
  workerId: string;
  log: Logger;
  /** Resolves when the launcher ends: after stop(), a server cycle, or a revoked credential. */
  closed: Promise<LauncherExit>;
  /**
   * Stops taking runs, lets the current one finish for up to `graceMs` (default: the
   * configured shutdown grace), stops it after that, unregisters and disconnects.
   * A second call with a shorter grace shortens the wait.
   */
  stop(opts?: { graceMs?: number; reason?: string }): Promise<void>;
  /** The run being executed, if any. */
  currentRunId(): string | null;
  /** How this launcher isolates runs (null with an injected executor). */
  sandbox: SandboxReport | null;
}

/**
 * The sandbox as this launcher reports it: in its log, its worker metadata (`sandbox`,
 * shown in the UI) and, under `stackyard up`, to the parent over IPC.
 */
export interface SandboxReport {
  kind: "bubblewrap" | "none";
  /** Without a sandbox: whether runs still execute (STACKYARD_UNSANDBOXED_RUNS=true). */
  runsAllowed: boolean;
  /** Why there is none. */
  reason: string | null;
}

/** The `sandbox` worker tag: "bubblewrap", "none (runs refused)" or "none (runs unsandboxed)". */
export function sandboxTag(report: SandboxReport): string {
  if (report.kind === "bubblewrap") return "bubblewrap";
  return report.runsAllowed ? "none (runs unsandboxed)" : "none (runs refused)";
}

export interface RunLauncherOptions {
  env?: Record<string, string | undefined>;
  log?: Logger;
  /** Aborting stops the launcher (also while it is still connecting); the reason is logged. */
  signal?: AbortSignal;
  /** Timing knobs, for tests. */
  timings?: Pick<
    LauncherConnectionOptions,
    | "defaultHeartbeatIntervalSeconds"
    | "reconnectPeriodMs"
    | "connectTimeoutMs"
    | "unregisterTimeoutMs"
  >;
  /** The run executor; default the process executor. */
  executor?: Executor;
  /** Called once the sandbox was probed, before connecting (not with an injected executor). */
  onSandbox?: (report: SandboxReport) => void;
  /** Run execution knobs, for tests. */
  runner?: Pick<RunRunnerOptions, "retry" | "reporter" | "runOptions">;
}

/**
 * Starts a launcher: reads its config from `env`, connects to the pool's broker and
 * registers. Resolves once registered; rejects with LauncherConfigError (bad env),
 * LauncherAuthError (credential refused), or an error when `signal` aborts first.
 */
export async function runLauncher(
  opts: RunLauncherOptions = {},
): Promise<LauncherHandle> {
  const config = loadLauncherConfig(opts.env ?? process.env);
  const log = (opts.log ?? createLauncherLogger(config.log)).child({
    workerId: config.workerId,
    poolId: config.token.poolId,
  });
  const ca = config.brokerCaFile ? await readFile(config.brokerCaFile) : null;
  await mkdir(config.workDir, { recursive: true });

  // Probed once, before registering, so the worker's tags say whether runs are isolated.
  let sandbox: SandboxReport | null = null;
  let executor = opts.executor;
  if (!executor) {
    const status = await probeSandbox({
      searchPath: config.searchPath || DEFAULT_HOST_PATH,
      hiddenPaths: config.sandboxHiddenPaths,
    });
    sandbox =
      status.kind === "bubblewrap"
        ? { kind: "bubblewrap", runsAllowed: true, reason: null }
        : {
            kind: "none",
            runsAllowed: config.unsandboxedRuns,
            reason: status.reason,
          };
    if (status.kind === "none")
      log.warn(
        { reason: status.reason, unsandboxedRuns: config.unsandboxedRuns },
        config.unsandboxedRuns
          ? "no sandbox: runs execute unsandboxed and can read everything this launcher can (STACKYARD_UNSANDBOXED_RUNS=true)"
          : "no sandbox: every run assigned to this worker fails until bubblewrap works or STACKYARD_UNSANDBOXED_RUNS=true",
      );
    opts.onSandbox?.(sandbox);
    executor = createProcessExecutor({
      sandbox: status,
      allowUnsandboxed: config.unsandboxedRuns,
      hiddenPaths: config.sandboxHiddenPaths,
    });
  }

  const poolPrivateKey = createPrivateKey(config.poolPrivateKeyPem);
  const runner: RunRunner = new RunRunner({
    executor,
    poolPrivateKey,
    poolPublicKey: createPublicKey(config.poolPublicKeyPem),
    workDir: config.workDir,
    binDir: config.binDir,
    searchPath: config.searchPath,
    log,
    onBusy: (runId) => connection.setRun(runId),
    ...opts.runner,
  });
  const connection: LauncherConnection = new LauncherConnection({
    token: config.token,
    workerId: config.workerId,
    version: LAUNCHER_VERSION,
    metadata: sandbox
      ? { ...config.metadata, sandbox: sandboxTag(sandbox) }
      : config.metadata,
    log,
    ca,
    allowOpenBroker: config.allowOpenBroker,
    ...opts.timings,
    onRunMessage: (msg) => runner.handle(msg),
    // Cycle: take no new runs, finish the current one whatever it takes, then exit.
    onCycle: () =>
      void stop({ graceMs: Infinity, reason: "cycled by the server" }),
  });

  let stopping: Promise<void> | null = null;
  const stop = (
    stopOpts: { graceMs?: number; reason?: string } = {},
  ): Promise<void> => {
    const reason = stopOpts.reason ?? "launcher stopped";
    const shutdown = runner.shutdown({
      graceMs: stopOpts.graceMs ?? config.shutdownGraceMs,
      reason,
    });
    stopping ??= shutdown.then(() => connection.stop(reason));
    return stopping;
  };
  const onAbort = () =>
    void stop({ reason: String(opts.signal?.reason ?? "stopped") });
  if (opts.signal?.aborted)
    throw new Error(`launcher not started: ${String(opts.signal.reason)}`);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  void connection.closed.then(() =>
    opts.signal?.removeEventListener("abort", onAbort),
  );

  log.info(
    {
      version: LAUNCHER_VERSION,
      broker: config.token.brokerEndpoint,
      metadata: config.metadata,
    },
    "launcher starting",
  );
  await connection.start();
  return {
    workerId: config.workerId,
    log,
    closed: connection.closed,
    stop,
    currentRunId: () => runner.currentRunId,
    sandbox,
  };
}
