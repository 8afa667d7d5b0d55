/**
 * The launcher: runs on worker hosts, connects to the server's MQTT broker with a pool
 * token, registers and heartbeats, and (later) executes runs. It never touches the
 * database and shares only `@stackyard/protocol` with the server.
 */
import { mkdir, readFile } from "node:fs/promises";
import pkg from "../package.json" with { type: "json" };
import { loadLauncherConfig } from "./config.ts";
import {
  LauncherConnection,
  type LauncherConnectionOptions,
  type LauncherExit,
} from "./connection.ts";
import { createLauncherLogger, type Logger } from "./log.ts";

export const LAUNCHER_VERSION: string = pkg.version;

export interface LauncherHandle {
  workerId: string;
  log: Logger;
  /** Resolves when the launcher ends: after stop(), a server cycle, or a revoked credential. */
  closed: Promise<LauncherExit>;
  stop(): Promise<void>;
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

  const connection = new LauncherConnection({
    token: config.token,
    workerId: config.workerId,
    version: LAUNCHER_VERSION,
    metadata: config.metadata,
    log,
    ca,
    ...opts.timings,
  });
  const onAbort = () =>
    void connection.stop(String(opts.signal?.reason ?? "stopped"));
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
    stop: () => connection.stop(),
  };
}
