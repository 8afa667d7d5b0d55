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
import { createProcessExecutor, type Executor } from "./executor/index.ts";
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

  const poolPrivateKey = createPrivateKey(config.poolPrivateKeyPem);
  const runner: RunRunner = new RunRunner({
    executor: opts.executor ?? createProcessExecutor(),
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
    metadata: config.metadata,
    log,
    ca,
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
  };
}
