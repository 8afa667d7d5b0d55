import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import {
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { decodePoolToken, readonlyTopic } from "@stackyard/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LauncherConnection,
  OpenBrokerError,
} from "../../../../launcher/src/connection.ts";
import { createApp } from "../../app.ts";
import { loadConfig } from "../config/index.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { mosquittoPasswordHash } from "./mosquitto-acl.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";
import { freePort } from "../../../test/ports.ts";

const CLI = fileURLToPath(
  new URL("../../../../cli/bin/stackyard.js", import.meta.url),
);
const haveMosquitto = (() => {
  try {
    execFileSync("mosquitto", ["-h"], { stdio: "ignore" });
    return true;
  } catch (err) {
    // `mosquitto -h` exits 3 after printing its usage: present.
    return (err as { status?: number }).status === 3;
  }
})();

/** A Mosquitto of this test's own, on a free loopback port, with `extra` config lines. */
async function startMosquitto(
  dir: string,
  extra: string[],
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const conf = path.join(dir, `mosquitto-${port}.conf`);
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      "persistence false",
      // As root, Mosquitto would switch to its own user, which cannot read our files.
      `user ${os.userInfo().username}`,
      ...extra,
      "",
    ].join("\n"),
  );
  const child = spawn("mosquitto", ["-c", conf], { stdio: "ignore" });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${port}`, {
        reconnectPeriod: 0,
        connectTimeout: 1000,
      })
      .then(
        (c) => c,
        (err: Error & { code?: number }) => (err.code === 5 ? "up" : null),
      );
    if (client === "up" || client) {
      if (client && client !== "up") await client.endAsync();
      break;
    }
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`mosquitto did not start (${conf})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `mqtt://127.0.0.1:${port}`, child };
}

const NS = "acltest";

describe.skipIf(
  skipWithout(
    "Mosquitto",
    haveMosquitto ? null : "no mosquitto binary on PATH",
    SETUP.mosquittoBinary,
  ),
)("Mosquitto ACLs from `stackyard broker acl`", () => {
  let t: TestDatabase;
  let dir: string;
  const brokers: ChildProcess[] = [];
  let tokens: { a: string; b: string };

  const env = () => ({
    ...process.env,
    DATABASE_URL: t.url,
    STACKYARD_DATA_DIR: path.join(dir, "data"),
    MQTT_BROKER_TYPE: "external",
    MQTT_BROKER_ENDPOINT: "mqtt://127.0.0.1:1",
    STACKYARD_MQTT_USERNAME: "stackyard-server",
    STACKYARD_MQTT_PASSWORD: "server-secret",
    STACKYARD_MQTT_NAMESPACE: NS,
  });

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-broker-acl-"));
    await mkdir(path.join(dir, "data"));
    const config = loadConfig({ env: env() as Record<string, string> });
    const app = await createApp(config, {
      databaseUrl: t.url,
      log: silentLog,
    });
    try {
      const a = await app.workers.createPool({
        name: "pool-a",
        spaceId: "root",
      });
      const b = await app.workers.createPool({
        name: "pool-b",
        spaceId: "root",
      });
      tokens = { a: a.token, b: b.token };
    } finally {
      await app.close();
    }
  }, 120_000);

  afterAll(async () => {
    for (const b of brokers) b.kill("SIGKILL");
    await t?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("hashes passwords the way mosquitto_passwd does", async () => {
    const file = path.join(dir, "check.passwd");
    await writeFile(file, `alice:${mosquittoPasswordHash("secret")}\n`);
    const broker = await startMosquitto(dir, [
      "allow_anonymous false",
      `password_file ${file}`,
    ]);
    brokers.push(broker.child);
    const ok = await mqtt.connectAsync(broker.url, {
      username: "alice",
      password: "secret",
      reconnectPeriod: 0,
    });
    await ok.endAsync();
    await expect(
      mqtt.connectAsync(broker.url, {
        username: "alice",
        password: "wrong",
        reconnectPeriod: 0,
      }),
    ).rejects.toMatchObject({ code: 5 });
  }, 60_000);

  it("confines each pool to its own topics, turns anonymous clients away, and launchers start on it", async () => {
    const out = path.join(dir, "acl");
    const cli = spawn(
      process.execPath,
      [CLI, "broker", "acl", "--out-dir", out],
      {
        env: env(),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    cli.stdout.on("data", (d: Buffer) => (output += d.toString()));
    cli.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((r) => cli.once("exit", r));
    expect(code, output).toBe(0);
    expect(output).toContain("2 pool(s)");
    expect((await stat(path.join(out, "passwd"))).mode & 0o777).toBe(0o600);
    const passwd = await readFile(path.join(out, "passwd"), "utf8");
    expect(passwd).not.toContain("server-secret");
    expect(passwd).not.toContain(decodePoolToken(tokens.a).credential);

    const conf = (await readFile(path.join(out, "mosquitto.conf"), "utf8"))
      .trim()
      .split("\n");
    const broker = await startMosquitto(dir, conf);
    brokers.push(broker.child);
    const a = decodePoolToken(tokens.a);
    const b = decodePoolToken(tokens.b);

    await expect(
      mqtt.connectAsync(broker.url, { reconnectPeriod: 0 }),
    ).rejects.toMatchObject({ code: 5 });

    const server = await mqtt.connectAsync(broker.url, {
      username: "stackyard-server",
      password: "server-secret",
      reconnectPeriod: 0,
    });
    const all = await server.subscribeAsync(`${NS}/writeonly/+/+`, {
      qos: 1,
    });
    expect(all.map((g) => g.qos)).toEqual([1]);
    // Pool A's worker subscribes to its topic, pool B's and everything; Mosquitto accepts
    // the subscriptions and delivers only what the ACL lets it read.
    const worker = await mqtt.connectAsync(broker.url, {
      clientId: `${a.poolId}:wkr_1`,
      username: a.poolId,
      password: a.credential,
      reconnectPeriod: 0,
    });
    const received: string[] = [];
    worker.on("message", (_topic, payload) =>
      received.push(payload.toString()),
    );
    try {
      await worker.subscribeAsync(readonlyTopic(NS, a.poolId, "wkr_1"), {
        qos: 1,
      });
      await worker.subscribeAsync(readonlyTopic(NS, b.poolId, "wkr_1"), {
        qos: 1,
      });
      await worker.subscribeAsync(`${NS}/#`, { qos: 1 });
      await server.publishAsync(readonlyTopic(NS, b.poolId, "wkr_1"), "for-b", {
        qos: 1,
      });
      await server.publishAsync(readonlyTopic(NS, a.poolId, "wkr_1"), "for-a", {
        qos: 1,
      });
      const deadline = Date.now() + 10_000;
      while (!received.includes("for-a") && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 500));
      expect(received).toContain("for-a");
      expect(received).not.toContain("for-b");
      // Nor may it publish where pool B's workers read.
      const other = await mqtt.connectAsync(broker.url, {
        clientId: `${b.poolId}:wkr_2`,
        username: b.poolId,
        password: b.credential,
        reconnectPeriod: 0,
      });
      const forB: string[] = [];
      other.on("message", (_topic, payload) => forB.push(payload.toString()));
      await other.subscribeAsync(readonlyTopic(NS, b.poolId, "wkr_2"), {
        qos: 1,
      });
      await worker.publishAsync(
        readonlyTopic(NS, b.poolId, "wkr_2"),
        "forged",
        { qos: 1 },
      );
      await server.publishAsync(readonlyTopic(NS, b.poolId, "wkr_2"), "real", {
        qos: 1,
      });
      const until = Date.now() + 10_000;
      while (!forB.includes("real") && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      expect(forB).toEqual(["real"]);
      await other.endAsync();
    } finally {
      await worker.endAsync();
      await server.endAsync();
    }

    // The launcher's own check passes on this broker.
    const launcher = new LauncherConnection({
      token: { ...a, brokerEndpoint: broker.url },
      workerId: "wkr_launcher",
      version: "0.0.0-test",
      metadata: {},
      log: silentLog as never,
      reconnectPeriodMs: 200,
    });
    await launcher.start();
    await launcher.stop();
  }, 120_000);

  it("a launcher refuses a broker without per-pool ACLs, unless allowed", async () => {
    const open = await startMosquitto(dir, ["allow_anonymous true"]);
    brokers.push(open.child);
    const a = decodePoolToken(tokens.a);
    const connect = (allowOpenBroker: boolean) =>
      new LauncherConnection({
        token: { ...a, brokerEndpoint: open.url },
        workerId: "wkr_open",
        version: "0.0.0-test",
        metadata: {},
        log: silentLog as never,
        reconnectPeriodMs: 200,
        allowOpenBroker,
      });
    const refused = connect(false);
    const err = await refused.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenBrokerError);
    expect((err as Error).message).toContain("another pool's topic");
    expect((err as Error).message).toContain("stackyard broker acl");
    expect((await refused.closed).code).toBe(1);
    const allowed = connect(true);
    await allowed.start();
    await allowed.stop();
  }, 60_000);
});
