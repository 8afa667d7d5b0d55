import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  startEmbeddedPostgres,
  type EmbeddedPostgresServer,
} from "../platform/embedded/embedded-postgres.ts";
import {
  lockDataDir,
  type DataDirLock,
} from "../platform/embedded/data-dir-lock.ts";
import { installProcessErrorHandlers } from "../platform/log/process-errors.ts";
import { startServer, type RunningServer } from "../server.ts";
import {
  loadConfigOrReport,
  loggerFor,
  reportFatal,
  type CommonFlags,
} from "./operator.ts";
import { waitForShutdownSignal } from "./signals.ts";

export type UpFlags = Omit<CommonFlags, "roles">;

export interface UpIo {
  stderr: NodeJS.WritableStream;
  /** argv prefix that re-runs this CLI (for the local launcher child process). */
  selfCommand: string[];
  /** Resolves when the process should stop; defaults to SIGINT/SIGTERM. */
  shutdown?: Promise<unknown>;
}

/**
 * The all-in-one start on embedded defaults: one data directory holding Postgres, object
 * storage and keys; every server role in this process, the built-in broker, and one
 * local launcher as a child process attached to the default worker pool.
 *
 * Stop order on SIGINT/SIGTERM: launcher (it may be mid-run), roles, Postgres, then the
 * data-dir lock. The launcher also exits on its own if this process dies (IPC channel).
 * A launcher that exits while `up` runs (crash, kill, cycled pool) is started again
 * (`superviseLauncher`).
 */
export async function upCommand(flags: UpFlags, io: UpIo): Promise<number> {
  // A single machine's own repositories are the point of `up`; a shared server keeps them off.
  const config = loadConfigOrReport(flags, io.stderr, {
    STACKYARD_ALLOW_LOCAL_REPOSITORIES: "true",
  });
  if (!config) return 2;
  const log = loggerFor(config, "up");
  const removeErrorHandlers = installProcessErrorHandlers(log);
  let lock: DataDirLock | null = null;
  let postgres: EmbeddedPostgresServer | null = null;
  let server: RunningServer | null = null;
  let launcher: LauncherSupervisor | null = null;
  const cleanup = async (): Promise<void> => {
    if (launcher) await launcher.stop(15_000);
    if (server) await server.stop();
    if (postgres) await postgres.stop();
    if (lock) await lock.release();
    removeErrorHandlers();
  };
  try {
    lock = await lockDataDir(config.dataDir);
    let databaseUrl = config.database.url;
    if (!databaseUrl) {
      postgres = await startEmbeddedPostgres({
        dataDir: config.dataDir,
        password: await readOrCreateSecret(
          path.join(config.dataDir, "postgres.password"),
        ),
        log,
      });
      databaseUrl = postgres.url;
    }
    server = await startServer(config, {
      databaseUrl,
      log,
      roles: ["api", "drain", "scheduler"],
    });
    const { app } = server;

    const firstAdmin = await app.auth.bootstrapFirstAdmin();
    const keyFile = path.join(config.dataDir, "admin-api-key.json");
    if (firstAdmin) {
      await writeFile(
        keyFile,
        `${JSON.stringify({ id: firstAdmin.id, secret: firstAdmin.secret }, null, 2)}\n`,
        {
          mode: 0o600,
        },
      );
    }

    const credentials = await localLauncherCredentials(app, config.dataDir);
    const sandbox = watchLauncherSandbox(log);
    launcher = superviseLauncher(
      () =>
        sandbox.attach(
          spawnLauncher(io.selfCommand, {
            STACKYARD_TOKEN: credentials.token,
            STACKYARD_POOL_PRIVATE_KEY: credentials.poolPrivateKey,
            STACKYARD_LAUNCHER_WORK_DIR: path.join(config.dataDir, "launcher"),
            // Runs must never see the keys, the launcher's credentials or the database
            // password, even where the data dir lies under a directory runs see (/etc).
            STACKYARD_SANDBOX_HIDDEN_PATHS: config.dataDir,
            STACKYARD_LOG_LEVEL: config.log.level,
            STACKYARD_LOG_FORMAT: config.log.format,
            ...(config.toolchain.binDir
              ? { STACKYARD_BIN_DIR: config.toolchain.binDir }
              : {}),
          }),
        ),
      log,
    );

    const sandboxWarning = unsandboxedWarning(await sandbox.first(20_000));
    io.stderr.write(
      banner(
        config.server.publicUrl,
        keyFile,
        firstAdmin,
        config.admin.username !== null,
      ) + sandboxWarning,
    );
    const signal = await (io.shutdown ?? waitForShutdownSignal());
    log.info({ signal }, "shutting down");
    await cleanup();
    io.stderr.write("stackyard: stopped\n");
    return 0;
  } catch (err) {
    const code = reportFatal(log, err, io.stderr);
    await cleanup().catch((cleanupErr: unknown) =>
      log.error({ err: cleanupErr }, "cleanup after failure failed"),
    );
    return code;
  }
}

/**
 * The local launcher's pool token and pool private key (base64 of the PEM, as
 * STACKYARD_POOL_PRIVATE_KEY takes it) are kept in the data directory (mode 0600) so
 * restarts reuse the same pool. If the file, either secret or the pool is gone, both are
 * minted afresh (`ensureDefaultPool` re-issues the credential and the key pair together).
 */
async function localLauncherCredentials(
  app: RunningServer["app"],
  dataDir: string,
): Promise<{ token: string; poolPrivateKey: string }> {
  const file = path.join(dataDir, "local-launcher.json");
  if (existsSync(file)) {
    const saved = JSON.parse(await readFile(file, "utf8")) as {
      poolId?: string;
      token?: string;
      poolPrivateKey?: string;
    };
    if (
      saved.poolId &&
      saved.token &&
      saved.poolPrivateKey &&
      (await app.workers.poolExists(saved.poolId))
    )
      return { token: saved.token, poolPrivateKey: saved.poolPrivateKey };
  }
  const { pool, token, privateKeyPem } = await app.workers.ensureDefaultPool();
  if (!privateKeyPem)
    throw new Error("the default pool was issued without a private key");
  const poolPrivateKey = Buffer.from(privateKeyPem).toString("base64");
  await writeFile(
    file,
    `${JSON.stringify({ poolId: pool.id, token, poolPrivateKey }, null, 2)}\n`,
    { mode: 0o600 },
  );
  return { token, poolPrivateKey };
}

function spawnLauncher(
  selfCommand: string[],
  env: Record<string, string>,
): ChildProcess {
  const [cmd, ...args] = selfCommand;
  if (!cmd)
    throw new Error("cannot start the local launcher: unknown CLI path");
  return spawn(cmd, [...args, "launcher"], {
    env: { ...process.env, ...env },
    // Its own process group: a terminal's Ctrl-C reaches only `up`, which stops the
    // launcher first. The IPC channel lets the launcher notice if `up` dies instead.
    detached: true,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

interface SandboxReport {
  kind: "bubblewrap" | "none";
  runsAllowed: boolean;
  reason: string | null;
}

/**
 * Collects the sandbox report every local launcher sends over IPC once it probed
 * bubblewrap (`{ type: "stackyard.sandbox", ... }`); a report without one is logged.
 */
function watchLauncherSandbox(log: ReturnType<typeof loggerFor>) {
  let resolveFirst: (r: SandboxReport) => void = () => undefined;
  const firstReport = new Promise<SandboxReport>((r) => (resolveFirst = r));
  return {
    attach(child: ChildProcess): ChildProcess {
      child.on("message", (msg: unknown) => {
        const m = msg as { type?: unknown } & SandboxReport;
        if (m?.type !== "stackyard.sandbox") return;
        if (m.kind !== "bubblewrap")
          log.warn(
            { reason: m.reason, runsAllowed: m.runsAllowed },
            "the local launcher has no sandbox",
          );
        resolveFirst(m);
      });
      return child;
    },
    /** The first report, or null when none came within `ms`. */
    first(ms: number): Promise<SandboxReport | null> {
      return Promise.race([
        firstReport,
        new Promise<null>((r) => setTimeout(() => r(null), ms).unref()),
      ]);
    },
  };
}

/** The operator's warning when runs are not sandboxed; "" when they are. */
function unsandboxedWarning(report: SandboxReport | null): string {
  if (!report || report.kind === "bubblewrap") return "";
  const lines = [
    `WARNING: runs are not sandboxed here: ${report.reason ?? "no sandbox"}.`,
    report.runsAllowed
      ? "  Runs execute anyway (STACKYARD_UNSANDBOXED_RUNS=true): their hooks and providers can read this data directory, including the encryption key and the admin API key."
      : "  Every run fails until they can be: install bubblewrap (scripts/setup.sh installs Debian's package), or set STACKYARD_UNSANDBOXED_RUNS=true to run them without isolation.",
    "",
  ];
  return lines.join("\n") + "\n";
}

/** Restart delays of the local launcher: 1 s doubling to 30 s; reset after 60 s of uptime. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_AFTER_MS = 60_000;

interface LauncherSupervisor {
  /** Stops restarting, then SIGTERM (SIGKILL after `graceMs`) to the current child. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Keeps one local launcher running, as an orchestrator (an autoscaling group, a
 * Deployment) does for real workers: whenever the child exits on its own (crashed,
 * killed, or cycled by the server), a new one is spawned after a backoff, so `up`
 * never silently ends up with no worker. The new launcher registers as a new worker;
 * the old worker's run, if any, is failed by heartbeat expiry.
 */
function superviseLauncher(
  spawnOne: () => ChildProcess,
  log: ReturnType<typeof loggerFor>,
): LauncherSupervisor {
  let child: ChildProcess;
  let stopping = false;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  const start = () => {
    timer = null;
    const startedAt = Date.now();
    child = spawnOne();
    child.once("exit", (code, signal) => {
      if (stopping) return;
      if (Date.now() - startedAt > RESTART_RESET_AFTER_MS) failures = 0;
      const delayMs = Math.min(RESTART_MIN_MS * 2 ** failures, RESTART_MAX_MS);
      failures++;
      log.warn(
        { code, signal, restartInMs: delayMs },
        "local launcher exited; starting it again",
      );
      timer = setTimeout(start, delayMs);
    });
  };
  start();
  return {
    async stop(graceMs) {
      stopping = true;
      if (timer) clearTimeout(timer);
      await stopChild(child, graceMs);
    },
  };
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => resolve()),
  );
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

async function readOrCreateSecret(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const secret = randomBytes(24).toString("hex");
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
  return secret;
}

function banner(
  url: string,
  keyFile: string,
  firstAdmin: { id: string; secret: string } | null,
  breakGlass: boolean,
): string {
  const lines = ["", `Stackyard is running at ${url}`, ""];
  if (firstAdmin) {
    lines.push(
      "First admin API key (shown only this once; also saved with mode 0600):",
      `  id:     ${firstAdmin.id}`,
      `  secret: ${firstAdmin.secret}`,
      `  file:   ${keyFile}`,
    );
  } else {
    lines.push(`Log in with the admin API key saved in ${keyFile}.`);
  }
  lines.push(`Open ${url} and log in with the API key id and secret.`);
  if (breakGlass)
    lines.push(
      "Break-glass login with ADMIN_USERNAME/ADMIN_PASSWORD is enabled at POST /admin-login.",
    );
  lines.push("Press Ctrl-C to stop.", "");
  return lines.join("\n") + "\n";
}
