import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { open, seal } from "@stackyard/protocol";
import mqtt from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { BuiltinBroker } from "../../platform/broker/builtin-broker.ts";
import { InProcessTransport } from "../../platform/broker/worker-transport.ts";
import { createWorkerService, type WorkerService } from "./worker-service.ts";

const NS = "stackyard";

function smallKeys() {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
  });
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: privateKey
      .export({ type: "pkcs8", format: "pem" })
      .toString(),
  };
}

function opensslCsr(): { csr: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "stackyard-csr-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-new",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=pool",
      "-keyout",
      path.join(dir, "pool.key"),
      "-out",
      path.join(dir, "pool.csr"),
    ],
    { stdio: "ignore" },
  );
  return {
    csr: readFileSync(path.join(dir, "pool.csr"), "utf8"),
    key: readFileSync(path.join(dir, "pool.key"), "utf8"),
  };
}

let t: TestDatabase;
let broker: BuiltinBroker;
let service: WorkerService;

beforeAll(async () => {
  t = await createTestDatabase();
  broker = new BuiltinBroker({
    host: "127.0.0.1",
    port: 0,
    namespace: NS,
    log: silentLog,
    authenticate: (u, p) => service.authenticate(u, p),
  });
  await broker.start();
  const transport = new InProcessTransport(broker, silentLog);
  await transport.start();
  service = createWorkerService({
    db: t.db,
    transport,
    clock: () => new Date(),
    log: silentLog,
    heartbeatTimeoutSeconds: 30,
    namespace: NS,
    serverUrl: "http://stackyard.test",
    brokerEndpoint: "127.0.0.1:1883",
    generateKeys: smallKeys,
    disconnectPool: (poolId) => broker.disconnectPool(poolId),
  });
});
afterAll(async () => {
  await broker?.stop();
  await t?.destroy();
});

async function storedKey(poolId: string): Promise<string | null> {
  const row = await t.db
    .selectFrom("worker_pools")
    .select("public_key")
    .where("id", "=", poolId)
    .executeTakeFirstOrThrow();
  return row.public_key;
}

describe("pool key pairs", () => {
  it("keeps a CSR's public key and returns no private key", async () => {
    const { csr, key } = opensslCsr();
    const issued = await service.createPool({
      name: "with-csr",
      spaceId: "root",
      csr: Buffer.from(csr).toString("base64"),
    });
    expect(issued.privateKeyPem).toBeNull();
    const pub = await storedKey(issued.pool.id);
    expect(open(key, seal(pub ?? "", "hello")).toString()).toBe("hello");
  });

  it("generates a pair without a CSR and returns its private key once", async () => {
    const issued = await service.createPool({ name: "gen", spaceId: "root" });
    const pub = await storedKey(issued.pool.id);
    expect(
      open(issued.privateKeyPem ?? "", seal(pub ?? "", "hi")).toString(),
    ).toBe("hi");
  });

  it("gives the default pool a fresh pair with every fresh credential", async () => {
    const first = await service.ensureDefaultPool();
    const second = await service.ensureDefaultPool();
    expect(second.pool.id).toBe(first.pool.id);
    const pub = await storedKey(second.pool.id);
    expect(
      open(second.privateKeyPem ?? "", seal(pub ?? "", "x")).toString(),
    ).toBe("x");
    expect(() => open(first.privateKeyPem ?? "", seal(pub ?? "", "x"))).toThrow(
      /sealed to another key/,
    );
  });

  it("reset replaces the key only with a CSR, and cuts off the pool's live connections", async () => {
    const issued = await service.createPool({ name: "reset", spaceId: "root" });
    const before = await storedKey(issued.pool.id);
    const client = await mqtt.connectAsync(
      `mqtt://127.0.0.1:${broker.address().port}`,
      {
        clientId: `${issued.pool.id}:wkr_reset`,
        username: issued.pool.id,
        password: issued.credential,
        reconnectPeriod: 0,
        protocolVersion: 4,
      },
    );
    const closed = new Promise<void>((resolve) =>
      client.once("close", () => resolve()),
    );
    try {
      const reset = await service.resetPoolToken(issued.pool.id, { csr: "" });
      expect(reset.privateKeyPem).toBeNull();
      expect(await storedKey(issued.pool.id)).toBe(before);
      await Promise.race([
        closed,
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error("the connection was not closed")),
            5000,
          ),
        ),
      ]);
      expect(
        await service.authenticate(issued.pool.id, issued.credential),
      ).toBeNull();
      expect(
        await service.authenticate(issued.pool.id, reset.credential),
      ).toEqual({ poolId: issued.pool.id });
    } finally {
      await client.endAsync(true);
    }

    const { csr, key } = opensslCsr();
    await service.resetPoolToken(issued.pool.id, { csr });
    const after = await storedKey(issued.pool.id);
    expect(after).not.toBe(before);
    expect(open(key, seal(after ?? "", "k")).toString()).toBe("k");
  });
});
