import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { ApiClient } from "@stackyard/api-client";
import { decodePoolToken } from "@stackyard/protocol";
import pg from "pg";
import {
  startEmbeddedPostgres,
  type EmbeddedPostgresServer,
} from "../../apps/server/src/platform/embedded/embedded-postgres.ts";
import { createLogger } from "../../apps/server/src/platform/log/logger.ts";
import { freePort, runCli, waitFor } from "../harness.ts";
import {
  adminClient,
  localLauncherCredentials,
  stopProcess,
} from "../run-kit.ts";
import { DrillBroker } from "./drill-broker.ts";
import { DrillProcess } from "./drill-process.ts";

/**
 * Timeouts of the drill topology, shortened so a drill whose run must be ended by a
 * timeout still fits in well under two minutes. Every drill's bound is derived from
 * these (see `terminalBoundMs`).
 */
export const DRILL_TIMEOUTS = {
  heartbeatTimeoutSeconds: 5,
  /** The minimum the config accepts is 60; a healthy drill run takes ~10-20 s. */
  maxDurationSeconds: 90,
  logSilenceTimeoutSeconds: 30,
  /** Fixed in the product (run-reconcile.ts). */
  pickupTimeoutSeconds: 60,
  /** The scheduler's `runs.reconcile` and `workers.expire` cron period. */
  reconcileIntervalSeconds: 15,
};

/**
 * How long after the fault was repaired a run may take to end: the longest rule that
 * can end it (the maximum duration, counted from a start that may precede the fault
 * only by less than the bound itself) plus a reconcile period, a heartbeat timeout and
 * time to restart a process.
 */
export function terminalBoundMs(): number {
  const t = DRILL_TIMEOUTS;
  return (
    (t.maxDurationSeconds +
      t.reconcileIntervalSeconds +
      t.heartbeatTimeoutSeconds +
      15) *
    1000
  );
}

export type ProcessName = "api" | "drain" | "scheduler" | "launcher";

/**
 * The processes a drill may fault, each separate so one can die alone: an embedded
 * PostgreSQL the harness owns (the machine's own Postgres is never touched), an
 * external Mosquitto, `stackyard server` once per role (api, drain, scheduler), and
 * one launcher running real OpenTofu. The admin key and the default pool come from a
 * short `stackyard up` on the same database and data directory.
 */
export class DrillTopology {
  readonly processes: Record<ProcessName, DrillProcess>;
  /** The harness's own connection, for invariants the API does not expose. */
  readonly db: pg.Pool;
  client!: ApiClient;

  private constructor(
    readonly dir: string,
    readonly base: string,
    private postgres: EmbeddedPostgresServer,
    private readonly pgPassword: string,
    readonly broker: DrillBroker,
    private readonly apiPort: number,
  ) {
    this.db = new pg.Pool({
      connectionString: postgres.url,
      max: 3,
      connectionTimeoutMillis: 5000,
    });
    // A restarted Postgres drops idle clients; the pool replaces them.
    this.db.on("error", () => undefined);
    const logs = path.join(dir, "logs");
    const server = (role: ProcessName) =>
      new DrillProcess(
        role,
        [
          "server",
          "--roles",
          role,
          "--data-dir",
          dir,
          "--port",
          String(apiPort),
        ],
        () => this.serverEnv(),
        path.join(logs, `${role}.log`),
        role === "api"
          ? async () => (await fetch(`${base}/readyz`)).status === 200
          : async (proc, from) =>
              proc.logSince(from).includes("stackyard server started"),
      );
    this.processes = {
      api: server("api"),
      drain: server("drain"),
      scheduler: server("scheduler"),
      launcher: new DrillProcess(
        "launcher",
        ["launcher"],
        () => this.launcherEnv,
        path.join(logs, "launcher.log"),
        async (proc, from) =>
          proc.logSince(from).includes("connected and registered"),
      ),
    };
  }

  private launcherEnv: Record<string, string> = {};

  static async start(): Promise<DrillTopology> {
    const tofu = path.join(
      process.env.STACKYARD_BIN_DIR ??
        path.join(os.homedir(), ".cache/stackyard/toolchain/bin"),
      "tofu",
    );
    if (!existsSync(tofu))
      throw new Error(
        `the drills run real OpenTofu: ${tofu} is missing (npm run setup builds it)`,
      );
    const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-drills-"));
    await mkdir(path.join(dir, "logs"));
    const pgPassword = randomBytes(16).toString("hex");
    const postgres = await startEmbeddedPostgres({
      dataDir: dir,
      password: pgPassword,
      log: createLogger({ level: "warn", format: "json" }),
      port: await freePort(),
    });
    const broker = new DrillBroker(
      dir,
      await freePort(),
      `drills-${randomBytes(4).toString("hex")}`,
      {
        username: "stackyard-server",
        password: randomBytes(16).toString("hex"),
      },
    );
    await broker.start();
    const apiPort = await freePort();
    const topology = new DrillTopology(
      dir,
      `http://127.0.0.1:${apiPort}`,
      postgres,
      pgPassword,
      broker,
      apiPort,
    );
    try {
      await topology.bootstrap();
    } catch (err) {
      await topology.stop({ keepDir: true });
      throw new Error(`the drill topology did not start (kept ${dir})`, {
        cause: err,
      });
    }
    return topology;
  }

  serverEnv(): Record<string, string> {
    const t = DRILL_TIMEOUTS;
    return {
      DATABASE_URL: this.postgres.url,
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      STACKYARD_PUBLIC_URL: this.base,
      STACKYARD_LOG_LEVEL: "info",
      STACKYARD_LOG_FORMAT: "json",
      STACKYARD_ALLOW_LOCAL_REPOSITORIES: "true",
      MQTT_BROKER_TYPE: "external",
      MQTT_BROKER_ENDPOINT: this.broker.endpoint,
      STACKYARD_MQTT_USERNAME: this.broker.server.username,
      STACKYARD_MQTT_PASSWORD: this.broker.server.password,
      STACKYARD_MQTT_NAMESPACE: this.broker.namespace,
      STACKYARD_WORKER_HEARTBEAT_TIMEOUT_SECONDS: String(
        t.heartbeatTimeoutSeconds,
      ),
      STACKYARD_RUN_MAX_DURATION_SECONDS: String(t.maxDurationSeconds),
      STACKYARD_RUN_LOG_SILENCE_TIMEOUT_SECONDS: String(
        t.logSilenceTimeoutSeconds,
      ),
      STACKYARD_QUEUE_POLL_INTERVAL_MS: "250",
    };
  }

  /**
   * `up` on the drill database migrates it, creates the first admin key and the default
   * pool (its token names the external broker); its own launcher is refused by the
   * broker, which does not know the pool yet, and is stopped with it.
   */
  private async bootstrap(): Promise<void> {
    const up = runCli(
      ["up", "--data-dir", this.dir, "--port", String(this.apiPort)],
      { ...this.serverEnv(), STACKYARD_LOG_LEVEL: "warn" },
    );
    try {
      await waitFor(
        "the banner of stackyard up",
        async () => {
          if (up.child.exitCode !== null)
            throw new Error(`up exited: ${up.output()}`);
          return up.output().includes("Stackyard is running at");
        },
        120_000,
      );
    } finally {
      await stopProcess(up);
    }
    const creds = await localLauncherCredentials(this.dir);
    const token = decodePoolToken(creds.token);
    this.broker.addPool(token.poolId, token.credential);
    await this.broker.kill();
    await this.broker.start();
    this.launcherEnv = {
      STACKYARD_TOKEN: creds.token,
      STACKYARD_POOL_PRIVATE_KEY: creds.poolPrivateKey,
      STACKYARD_LAUNCHER_WORK_DIR: path.join(this.dir, "launcher"),
      STACKYARD_LOG_LEVEL: "info",
      STACKYARD_LOG_FORMAT: "json",
    };
    await Promise.all(
      (["api", "drain", "scheduler"] as const).map((p) =>
        this.processes[p].start(),
      ),
    );
    await this.processes.launcher.start();
    this.client = await adminClient(this.base, this.dir);
  }

  /** Stops Postgres (fast shutdown: connections are cut) and starts it again after `downMs`. */
  async restartPostgres(downMs: number): Promise<void> {
    await this.postgres.stop();
    await sleep(downMs);
    this.postgres = await startEmbeddedPostgres({
      dataDir: this.dir,
      password: this.pgPassword,
      log: createLogger({ level: "warn", format: "json" }),
      port: this.postgres.port,
    });
  }

  async restartBroker(downMs: number): Promise<void> {
    await this.broker.kill();
    await sleep(downMs);
    await this.broker.start();
  }

  /** Every exit of a Stackyard process the harness did not cause, so far. */
  unexpectedExits(): string[] {
    return Object.values(this.processes).flatMap((p) => p.unexpectedExits);
  }

  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    await this.processes.launcher.stop(15_000);
    await Promise.all(
      (["scheduler", "drain", "api"] as const).map((p) =>
        this.processes[p].stop(),
      ),
    );
    await this.broker.kill();
    await this.db.end().catch(() => undefined);
    await this.postgres.stop().catch(() => undefined);
    if (!opts.keepDir)
      await rm(this.dir, { recursive: true, force: true }).catch(
        () => undefined,
      );
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
