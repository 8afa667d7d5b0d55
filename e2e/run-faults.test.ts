import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { RUN_CONFIRM, type ApiClient } from "@stackyard/api-client";
import { decodePoolToken } from "@stackyard/protocol";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyDatabase } from "../apps/server/test/db.ts";
import { SETUP, skipWithout } from "../apps/server/test/tools.ts";
import {
  freePort,
  isAlive,
  runCli,
  waitFor,
  type CliProcess,
} from "./harness.ts";
import {
  adminClient,
  canConnect,
  createStack,
  gitRepo,
  launcherPids,
  localLauncherCredentials,
  readRunLogs,
  startUp,
  stopProcess,
  triggerRun,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// The run path under faults, with real processes and real OpenTofu: a launcher killed
// mid-plan, the external Mosquitto broker, the server killed mid-run, and a secret.
// Timings are shortened through the environment: a 5 s heartbeat timeout (the minimum;
// the server tells workers to heartbeat every 5/3 s). Every server runs on a scratch
// database of the test Postgres (embedded Postgres is covered by up.test.ts).
const FAST = { STACKYARD_WORKER_HEARTBEAT_TIMEOUT_SECONDS: "5" };

type ScratchDatabase = Awaited<ReturnType<typeof createEmptyDatabase>>;

/**
 * A beforePlan hook that prints `marker` and then waits while the test's hold server
 * accepts connections on `port` (≤ 120 s). A TCP port rather than a file: runs may be
 * sandboxed (bubblewrap) with a private /tmp and a read-only view of the rest, but they
 * share the host's network.
 */
function holdHook(port: number, marker: string): string {
  return `echo ${marker}; n=0; while bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null && [ $n -lt 600 ]; do sleep 0.2; n=$((n+1)); done`;
}

/** A TCP server whose only job is to exist until `release()`. */
async function holdServer(): Promise<{
  port: number;
  release(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    release: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("a launcher killed mid-plan", () => {
  let sy: Stackyard;
  let db: ScratchDatabase;

  beforeAll(async () => {
    db = await createEmptyDatabase();
    sy = await startUp({ ...FAST, DATABASE_URL: db.url });
  }, 150_000);

  afterAll(async () => {
    await sy?.stop();
    await db?.destroy();
  });

  it("fails the run with a reason once the worker's heartbeats stop, frees the stack, and the restarted launcher runs the next one", async () => {
    const hold = await holdServer();
    const stack = await createStack(sy.client, {
      name: "Killed launcher",
      repository: await gitRepo(),
      beforePlan: [holdHook(hold.port, "holding-the-plan")],
    });
    const marker = `STACKYARD_LAUNCHER_WORK_DIR=${path.join(sy.dataDir, "launcher")}`;
    const [launcher] = await waitFor("the local launcher", async () => {
      const pids = launcherPids(marker);
      return pids.length === 1 ? pids : null;
    });

    const run = await triggerRun(sy.client, stack);
    await waitForRunState(sy.client, stack, run, ["PLANNING"]);
    await waitFor("the hook to be holding the plan", async () =>
      (await readRunLogs(sy.client, stack, run)).includes("holding-the-plan"),
    );
    process.kill(launcher ?? 0, "SIGKILL");
    await hold.release();

    const history = await waitForRunState(
      sy.client,
      stack,
      run,
      ["FAILED"],
      60_000,
    );
    expect(history.at(-1)?.note).toMatch(
      /worker wkr_\w+ (was lost|is gone).*no heartbeat for 5 s/,
    );

    // `up` restarted its launcher (a new process, a new worker).
    await waitFor("a restarted launcher", async () => {
      const pids = launcherPids(marker).filter((pid) => pid !== launcher);
      return pids.length === 1 && pids.every(isAlive);
    });
    const next = await triggerRun(sy.client, stack);
    const nextHistory = await waitForRunState(sy.client, stack, next, [
      "UNCONFIRMED",
      "FAILED",
    ]);
    expect(nextHistory.at(-1)?.state, nextHistory.at(-1)?.note ?? "").toBe(
      "UNCONFIRMED",
    );
    expect(await readRunLogs(sy.client, stack, next)).toMatch(
      /terraform_data\.marker will be created/,
    );
  }, 150_000);
});

describe("the external MQTT broker", () => {
  const namespace = `e2e-${randomBytes(6).toString("hex")}`;
  const seen: string[] = [];
  let sy: Stackyard | null = null;
  let observer: mqtt.MqttClient | null = null;
  let db: ScratchDatabase | null = null;
  let mosquitto = false;

  beforeAll(async () => {
    mosquitto = !skipWithout(
      "Mosquitto",
      (await canConnect("127.0.0.1", 1883))
        ? null
        : "nothing answers on 127.0.0.1:1883",
      SETUP.mosquitto,
    );
    if (!mosquitto) return;
    db = await createEmptyDatabase();
    // A bystander on the broker: proof that the messages really go through Mosquitto.
    observer = await mqtt.connectAsync("mqtt://127.0.0.1:1883", {
      clientId: `e2e-observer-${namespace}`,
    });
    observer.on("message", (topic, payload) => {
      let type = "(not JSON)";
      try {
        type = (JSON.parse(payload.toString()) as { type?: string }).type ?? "";
      } catch {
        // Recorded as such: a throw here would end the observer's message handling.
      }
      seen.push(`${topic.split("/")[1] ?? ""} ${type}`);
    });
    await observer.subscribeAsync(`${namespace}/#`);
    sy = await startUp({
      ...FAST,
      DATABASE_URL: db.url,
      MQTT_BROKER_TYPE: "external",
      MQTT_BROKER_ENDPOINT: "mqtt://127.0.0.1:1883",
      STACKYARD_MQTT_NAMESPACE: namespace,
      // The machine's Mosquitto takes anonymous clients and has no per-pool ACLs.
      STACKYARD_ALLOW_OPEN_BROKER: "true",
    });
  }, 150_000);

  afterAll(async () => {
    await sy?.stop();
    await observer?.endAsync();
    await db?.destroy();
  });

  it("plans, waits for confirmation, applies, and a second run is a no-op through Mosquitto", async (ctx) => {
    if (!mosquitto || !sy) {
      ctx.skip(
        "no MQTT broker on 127.0.0.1:1883 (install and start Mosquitto to run this test)",
      );
      return;
    }
    const { client } = sy;
    const pool = decodePoolToken(
      (await localLauncherCredentials(sy.dataDir)).token,
    );
    expect(pool).toMatchObject({
      brokerEndpoint: "mqtt://127.0.0.1:1883",
      namespace,
    });
    const stack = await createStack(client, {
      name: "Through Mosquitto",
      repository: await gitRepo(),
    });
    const run = await triggerRun(client, stack);
    await waitForRunState(client, stack, run, ["UNCONFIRMED", "FAILED"]).then(
      (h) => expect(h.at(-1)?.state, h.at(-1)?.note ?? "").toBe("UNCONFIRMED"),
    );
    await client.request(RUN_CONFIRM, { stack, run });
    const applied = await waitForRunState(client, stack, run, [
      "FINISHED",
      "FAILED",
    ]);
    expect(applied.at(-1)?.state, applied.at(-1)?.note ?? "").toBe("FINISHED");
    expect(applied.map((t) => t.state)).toContain("APPLYING");
    expect(await readRunLogs(client, stack, run)).toMatch(
      /Apply complete! Resources: 1 added/,
    );

    const again = await triggerRun(client, stack);
    const noop = await waitForRunState(client, stack, again, [
      "FINISHED",
      "FAILED",
      "UNCONFIRMED",
    ]);
    expect(noop.at(-1)?.state, noop.at(-1)?.note ?? "").toBe("FINISHED");
    expect(await readRunLogs(client, stack, again)).toMatch(/No changes/);
    expect(seen).toEqual(
      expect.arrayContaining([
        "writeonly worker.register",
        "readonly worker.registered",
        "writeonly worker.heartbeat",
        "readonly run.assign",
      ]),
    );
  }, 150_000);
});

// Separate processes (`stackyard server` with every role, `stackyard launcher`) on a
// scratch database of the test Postgres, so the server can be killed and restarted
// under a running launcher, and the database can be dumped.
describe("separate server and launcher processes", () => {
  const secret = `sekrit-${randomBytes(8).toString("hex")}`;
  let db: ScratchDatabase;
  let dataDir: string;
  let port: number;
  let mqttPort: number;
  let base: string;
  let server: CliProcess;
  let launcher: CliProcess;
  let client: ApiClient;

  function startServer(): CliProcess {
    return runCli(
      [
        "server",
        "--roles",
        "api,drain,scheduler",
        "--data-dir",
        dataDir,
        "--port",
        String(port),
        "--mqtt-port",
        String(mqttPort),
      ],
      {
        ...FAST,
        DATABASE_URL: db.url,
        STACKYARD_BIND_ADDRESS: "127.0.0.1",
        STACKYARD_LOG_LEVEL: "warn",
        // The stacks track git repositories in the test's temporary directory.
        STACKYARD_ALLOW_LOCAL_REPOSITORIES: "true",
      },
    );
  }

  async function ready(proc: CliProcess): Promise<void> {
    await waitFor("/readyz", async () => {
      if (proc.child.exitCode !== null)
        throw new Error(`the server exited: ${proc.output()}`);
      return (await fetch(`${base}/readyz`)).status === 200;
    });
  }

  beforeAll(async () => {
    db = await createEmptyDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-procs-"));
    port = await freePort();
    mqttPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    // `up` on the same database bootstraps the admin key and the default pool's token
    // and private key into the data directory; then the processes take over.
    const bootstrap = await startUp(
      { ...FAST, DATABASE_URL: db.url },
      { dataDir, port, mqttPort },
    );
    await bootstrap.stop();
    server = startServer();
    await ready(server);
    const creds = await localLauncherCredentials(dataDir);
    launcher = runCli(["launcher"], {
      STACKYARD_TOKEN: creds.token,
      STACKYARD_POOL_PRIVATE_KEY: creds.poolPrivateKey,
      STACKYARD_LAUNCHER_WORK_DIR: path.join(dataDir, "separate-launcher"),
      STACKYARD_LOG_LEVEL: "info",
      STACKYARD_LOG_FORMAT: "json",
    });
    await waitFor("the launcher to register", async () =>
      launcher.output().includes("connected and registered"),
    );
    client = await adminClient(base, dataDir);
  }, 150_000);

  afterAll(async () => {
    if (launcher) await stopProcess(launcher);
    if (server) await stopProcess(server);
    await db?.destroy();
  });

  it("never shows a write-only variable: masked in logs, absent from API responses", async () => {
    const stack = await createStack(client, {
      name: "Secret",
      repository: await gitRepo(),
      beforePlan: ['echo "the secret is $SECRET_TOKEN"'],
    });
    const added = await client.request(
      `mutation($stack:ID!$config:ConfigInput!){stackConfigAdd(stack: $stack, config: $config){id,checksum,type,value,writeOnly}}`,
      {
        stack,
        config: {
          id: "SECRET_TOKEN",
          type: "ENVIRONMENT_VARIABLE",
          value: secret,
          writeOnly: true,
        },
      },
    );
    const run = await triggerRun(client, stack);
    const history = await waitForRunState(client, stack, run, [
      "UNCONFIRMED",
      "FAILED",
    ]);
    expect(history.at(-1)?.state, history.at(-1)?.note ?? "").toBe(
      "UNCONFIRMED",
    );
    const logs = await readRunLogs(client, stack, run);
    expect(logs).toContain("the secret is *****");
    expect(logs).not.toContain(secret);

    const read = await client.request(
      `query($stack:ID!$run:ID!){stack(id: $stack){config{id,checksum,type,value,writeOnly},configElement(id: "SECRET_TOKEN"){id,value,writeOnly},runtimeConfig{element{id,checksum,value,writeOnly}},run(id: $run){id,state,history{note,state}}}}`,
      { stack, run },
    );
    for (const response of [added, read, history])
      expect(JSON.stringify(response)).not.toContain(secret);
    expect(JSON.stringify(read)).toContain('"writeOnly":true');
  }, 120_000);

  it("loses no log line when the server is killed mid-run and restarted", async () => {
    const lines = 250;
    const stack = await createStack(client, {
      name: "Server killed",
      repository: await gitRepo(),
      beforePlan: [
        `for i in $(seq 1 ${lines}); do echo line-$i; sleep 0.02; done`,
      ],
    });
    const run = await triggerRun(client, stack);
    await waitFor("the plan's first lines", async () =>
      (await readRunLogs(client, stack, run)).includes("line-20\n"),
    );
    server.child.kill("SIGKILL");
    await server.exited;
    // Down for longer than the heartbeat timeout: the restarted server must give the
    // worker time to reconnect instead of expiring it (and failing its run) at once.
    await new Promise((r) => setTimeout(r, 6000));
    server = startServer();
    await ready(server);

    const history = await waitForRunState(client, stack, run, [
      "UNCONFIRMED",
      "FINISHED",
      "FAILED",
    ]);
    const last = history.at(-1);
    expect(last?.state, last?.note ?? "").toBe("UNCONFIRMED");
    const printed = (await readRunLogs(client, stack, run))
      .split("\n")
      .filter((l) => /^line-\d+$/.test(l));
    expect(printed).toEqual(
      Array.from({ length: lines }, (_, i) => `line-${i + 1}`),
    );
    // The outage really hit the run: the launcher lost the broker and retried reports.
    expect(launcher.output()).toContain("lost the broker connection");
    expect(launcher.output()).toContain("worker API request failed; retrying");
    expect(launcher.output()).not.toContain("run log lines were dropped");
  }, 150_000);

  it("keeps no plaintext secret in the database", async (ctx) => {
    let dump: string;
    try {
      dump = execFileSync("pg_dump", ["--no-owner", "--dbname", db.url], {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      });
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === "ENOENT" &&
        skipWithout("pg_dump", "not on PATH", SETUP.pgDump)
      ) {
        ctx.skip("pg_dump is not on PATH (install the PostgreSQL client)");
        return;
      }
      // An older client cannot dump a newer server (e.g. the embedded PostgreSQL 17
      // that the tests fall back to on a machine without its own PostgreSQL).
      const stderr = String((err as { stderr?: unknown }).stderr ?? "");
      if (
        stderr.includes("server version mismatch") &&
        skipWithout("pg_dump", "older than the test server", SETUP.pgDump)
      ) {
        ctx.skip(`pg_dump is older than the test server: ${stderr.trim()}`);
        return;
      }
      throw err;
    }
    expect(dump).toContain("SECRET_TOKEN");
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(Buffer.from(secret).toString("base64"));
  }, 60_000);
});
