import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BuiltinBroker, isLoopbackHost } from "./builtin-broker.ts";
import { InProcessTransport } from "./worker-transport.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

const log = pino({ level: "silent" });
const NS = "test";
const POOL = "wp_pool1";
const CREDENTIAL = "correct-horse-battery-staple";

function authenticate(
  username: string,
  password: string,
): Promise<{ poolId: string } | null> {
  return Promise.resolve(
    username === POOL && password === CREDENTIAL ? { poolId: POOL } : null,
  );
}

function connect(
  url: string,
  opts: {
    workerId?: string;
    poolId?: string;
    password?: string;
    clientId?: string;
    ca?: Buffer;
  } = {},
): Promise<MqttClient> {
  const poolId = opts.poolId ?? POOL;
  const client = mqtt.connect(url, {
    protocolVersion: 4,
    clientId: opts.clientId ?? `${poolId}:${opts.workerId ?? "wkr_a"}`,
    username: poolId,
    password: opts.password ?? CREDENTIAL,
    reconnectPeriod: 0,
    ...(opts.ca ? { ca: opts.ca, servername: "localhost" } : {}),
  });
  return new Promise((resolve, reject) => {
    client.once("connect", () => {
      (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(
        true,
      );
      resolve(client);
    });
    client.once("error", (err) => {
      client.end(true);
      reject(err);
    });
  });
}

function nextMessage(
  client: MqttClient,
): Promise<{ topic: string; payload: string }> {
  return new Promise((resolve) =>
    client.once("message", (topic, payload) =>
      resolve({ topic, payload: payload.toString() }),
    ),
  );
}

describe("BuiltinBroker", () => {
  let broker: BuiltinBroker;
  let transport: InProcessTransport;
  let url: string;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    broker = new BuiltinBroker({
      host: "127.0.0.1",
      port: 0,
      namespace: NS,
      authenticate,
      log,
    });
    await broker.start();
    transport = new InProcessTransport(broker);
    await transport.start();
    url = `mqtt://127.0.0.1:${broker.address().port}`;
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await transport.stop();
    await broker.stop();
  });

  async function worker(workerId = "wkr_a"): Promise<MqttClient> {
    const c = await connect(url, { workerId });
    clients.push(c);
    return c;
  }

  it("is listening between start and stop", async () => {
    expect(broker.isListening()).toBe(true);
    expect(transport.isHealthy()).toBe(true);
    await transport.stop();
    await broker.stop();
    expect(broker.isListening()).toBe(false);
    await broker.stop();
  });

  it("carries messages both ways between a worker and the server", async () => {
    const received: { topic: string; payload: string }[] = [];
    await transport.subscribe(`${NS}/writeonly/+/+`, (topic, payload) =>
      received.push({ topic, payload: payload.toString() }),
    );

    const c = await worker();
    const granted = await c.subscribeAsync(`${NS}/readonly/${POOL}/wkr_a`, {
      qos: 1,
    });
    expect(granted[0]?.qos).toBe(1);

    const incoming = nextMessage(c);
    await transport.publish(`${NS}/readonly/${POOL}/wkr_a`, {
      hello: "worker",
    });
    expect(await incoming).toEqual({
      topic: `${NS}/readonly/${POOL}/wkr_a`,
      payload: '{"hello":"worker"}',
    });

    await c.publishAsync(`${NS}/writeonly/${POOL}/wkr_a`, "hi server", {
      qos: 1,
    });
    await expect
      .poll(() => received)
      .toEqual([
        { topic: `${NS}/writeonly/${POOL}/wkr_a`, payload: "hi server" },
      ]);
  });

  it("refuses a wrong password", async () => {
    await expect(connect(url, { password: "wrong" })).rejects.toMatchObject({
      code: 4,
      message: expect.stringContaining("Bad username or password"),
    });
  });

  it("refuses a client id that does not name the authenticated pool", async () => {
    await expect(
      connect(url, { clientId: "wp_other:wkr_a" }),
    ).rejects.toMatchObject({ code: 2 });
    await expect(connect(url, { clientId: "wkr_a" })).rejects.toMatchObject({
      code: 2,
    });
    await expect(
      connect(url, { clientId: `${POOL}:a/b` }),
    ).rejects.toMatchObject({ code: 2 });
  });

  it("refuses subscriptions to another worker's topic and to wildcards", async () => {
    const c = await worker("wkr_a");
    for (const topic of [
      `${NS}/readonly/${POOL}/wkr_b`,
      `${NS}/readonly/${POOL}/+`,
      `${NS}/#`,
      `${NS}/writeonly/${POOL}/wkr_a`,
    ]) {
      // mqtt.js turns SUBACK 0x80 into an error carrying the packet.
      await expect(c.subscribeAsync(topic, { qos: 1 })).rejects.toMatchObject({
        packet: { granted: [128] },
      });
    }
    // The refused subscriptions deliver nothing.
    let leaked = false;
    c.on("message", () => (leaked = true));
    await transport.publish(`${NS}/readonly/${POOL}/wkr_b`, "for b only");
    await new Promise((r) => setTimeout(r, 50));
    expect(leaked).toBe(false);
    expect(c.connected).toBe(true);
  });

  it("disconnects a worker that publishes outside its writeonly topic", async () => {
    const seen: string[] = [];
    await transport.subscribe(`${NS}/#`, (topic) => seen.push(topic));
    for (const topic of [
      `${NS}/readonly/${POOL}/wkr_a`,
      `${NS}/writeonly/${POOL}/wkr_b`,
    ]) {
      const c = await worker("wkr_a");
      const closed = new Promise<void>((resolve) =>
        c.once("close", () => resolve()),
      );
      c.publish(topic, "forged", { qos: 1 });
      await closed;
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([]);
  });

  it("lets the newer connection of a worker take over", async () => {
    const first = await worker("wkr_a");
    const closed = new Promise<void>((resolve) =>
      first.once("close", () => resolve()),
    );
    await worker("wkr_a");
    await closed;
  });
});

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("BuiltinBroker in plain text", () => {
  async function warningsWhenListeningOn(host: string): Promise<string[]> {
    const lines: Array<{ level: number; msg: string }> = [];
    const captured = pino(
      { level: "info" },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    );
    const broker = new BuiltinBroker({
      host,
      port: 0,
      namespace: NS,
      authenticate,
      log: captured,
    });
    await broker.start();
    await broker.stop();
    return lines.filter((l) => l.level === 40).map((l) => l.msg);
  }

  it("warns at start when it listens beyond loopback without TLS", async () => {
    const warnings = await warningsWhenListeningOn("0.0.0.0");
    expect(warnings).toEqual([
      expect.stringMatching(
        /beyond loopback without TLS.*STACKYARD_MQTT_TLS_CERT_FILE/,
      ),
    ]);
  });

  it("stays quiet on loopback", async () => {
    expect(await warningsWhenListeningOn("127.0.0.1")).toEqual([]);
  });

  it("tells loopback addresses from the others", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1"])
      expect(isLoopbackHost(h)).toBe(false);
  });
});

describe("BuiltinBroker over TLS", () => {
  it.skipIf(
    skipWithout(
      "openssl",
      hasOpenssl() ? null : "no openssl on PATH",
      SETUP.openssl,
    ),
  )(
    "accepts clients that trust its certificate and refuses those that do not",
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "stackyard-broker-tls-"));
      try {
        const certFile = path.join(dir, "cert.pem");
        const keyFile = path.join(dir, "key.pem");
        execFileSync(
          "openssl",
          [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            keyFile,
            "-out",
            certFile,
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
          ],
          { stdio: "ignore" },
        );
        const broker = new BuiltinBroker({
          host: "127.0.0.1",
          port: 0,
          tls: { certFile, keyFile },
          namespace: NS,
          authenticate,
          log,
        });
        await broker.start();
        try {
          const tlsUrl = `mqtts://127.0.0.1:${broker.address().port}`;
          const { readFileSync } = await import("node:fs");
          const c = await connect(tlsUrl, { ca: readFileSync(certFile) });
          await c.endAsync();
          await expect(connect(tlsUrl)).rejects.toThrow(
            /self-signed|self signed/,
          );
        } finally {
          await broker.stop();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
