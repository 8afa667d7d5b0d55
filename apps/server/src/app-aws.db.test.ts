import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/db.ts";
import { startFakeAws, type FakeAws } from "../test/fakes/fake-aws.ts";
import { loadConfig } from "./platform/config/index.ts";
import { createLogger } from "./platform/log/logger.ts";
import { enqueue } from "./platform/queue/index.ts";
import { startServer, type RunningServer } from "./server.ts";
import { freePort } from "../test/ports.ts";

const log = createLogger({ level: "silent", format: "json" });

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("ENCRYPTION_TYPE=kms with MESSAGE_QUEUE_TYPE=sqs", () => {
  let aws: FakeAws;
  let t: TestDatabase;
  let server: RunningServer;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    aws = await startFakeAws();
    t = await createTestDatabase();
    // The SDK's default credential chain; the fakes require a signature, not a valid one.
    process.env["AWS_ACCESS_KEY_ID"] = "AKIAFAKE";
    process.env["AWS_SECRET_ACCESS_KEY"] = "fake";
    const q = (name: string) => aws.sqs.queueUrl(name);
    const config = loadConfig({
      cwd: await mkdtemp(path.join(os.tmpdir(), "stackyard-aws-")),
      configFile: null,
      flags: { port: await freePort(), mqttPort: await freePort() },
      env: {
        STACKYARD_HOSTNAME: "127.0.0.1",
        ENCRYPTION_TYPE: "kms",
        ENCRYPTION_KMS_ENCRYPTION_KEY_ID: aws.kms.encryptionKeyId,
        ENCRYPTION_KMS_SIGNING_KEY_ID: aws.kms.signingKeyId,
        ENCRYPTION_KMS_REGION: aws.kms.region,
        MESSAGE_QUEUE_TYPE: "sqs",
        MESSAGE_QUEUE_SQS_ASYNC_URL: q("async"),
        MESSAGE_QUEUE_SQS_ASYNC_FIFO_URL: q("async.fifo"),
        MESSAGE_QUEUE_SQS_CRONJOBS_URL: q("async"),
        MESSAGE_QUEUE_SQS_DLQ_URL: q("dlq"),
        MESSAGE_QUEUE_SQS_DLQ_FIFO_URL: q("dlq.fifo"),
        MESSAGE_QUEUE_SQS_EVENTS_INBOX_URL: q("async"),
        MESSAGE_QUEUE_SQS_IOT_URL: q("async"),
        MESSAGE_QUEUE_SQS_WEBHOOKS_URL: q("async"),
        STACKYARD_AWS_ENDPOINT_URL: aws.url,
      },
    });
    server = await startServer(config, {
      databaseUrl: t.url,
      log,
      roles: ["api", "drain"],
    });
  });
  afterAll(async () => {
    await server?.stop();
    await t?.destroy();
    await aws?.close();
    process.env = savedEnv;
  });

  it("wraps the data key with KMS and encrypts secrets with it", async () => {
    const { app } = server;
    expect(app.encryptor.type).toBe("kms");
    expect(app.encryptor.decrypt(app.encryptor.encrypt("x")).toString()).toBe(
      "x",
    );
    const rows = await t.db
      .selectFrom("encryption_keys")
      .select("type")
      .execute();
    expect(rows).toEqual([{ type: "kms" }]);
    expect(aws.kms.calls).toEqual(
      expect.arrayContaining(["Encrypt", "GetPublicKey"]),
    );
  });

  it("signs sessions through KMS and publishes the key at /.well-known/jwks", async () => {
    const { token } = await server.app.signer.sign(
      { sub: "user:admin", name: "admin", admin: true },
      60,
    );
    expect(aws.kms.calls).toContain("Sign");
    const res = await fetch(`${server.url}/.well-known/jwks`);
    expect(res.status).toBe(200);
    const jwks = (await res.json()) as { keys: JWK[] };
    expect(jwks.keys).toMatchObject([{ kty: "RSA", alg: "RS256", use: "sig" }]);
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
      audience: server.app.config.server.publicUrl,
    });
    expect(payload.sub).toBe("user:admin");
  });

  it("relays a committed job through SQS to the drain", async () => {
    await t.db.transaction().execute(async (tx) => {
      await enqueue(tx, "workers.expire", {});
    });
    await until(async () => {
      const { rows } = await t.pool.query<{ n: number }>(
        "select count(*)::int as n from queue_messages",
      );
      return (
        rows[0]?.n === 0 &&
        aws.sqs.calls.includes("DeleteMessage") &&
        aws.sqs.messages("async").length === 0
      );
    });
    expect(aws.sqs.calls).toEqual(
      expect.arrayContaining(["SendMessage", "ReceiveMessage"]),
    );
    expect(aws.sqs.messages("dlq")).toEqual([]);
  });
});
