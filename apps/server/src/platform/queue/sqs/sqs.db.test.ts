import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../../../test/db.ts";
import {
  fakeSqsClient,
  startFakeSqs,
  STACKYARD_FAKE_QUEUES,
  type FakeSqs,
} from "../../../../test/fakes/fake-sqs.ts";
import { createLogger } from "../../log/logger.ts";
import { createFsBlobStore } from "../../storage/index.ts";
import { Drain } from "../drain.ts";
import type { LargeMessageStore } from "../large-messages.ts";
import { defineJob, enqueue } from "../queue.ts";
import type { ClaimOptions, ReceivedMessage } from "../queue-backend.ts";
import { SqsQueueBackend, type OutboxMessage } from "./sqs-backend.ts";
import { SqsRelay } from "./sqs-relay.ts";

const log = createLogger({ level: "silent", format: "json" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(25);
  }
}

let sqs: FakeSqs;
let t: TestDatabase;
let large: LargeMessageStore;
let nextId = 1;

beforeAll(async () => {
  sqs = await startFakeSqs({ queues: STACKYARD_FAKE_QUEUES });
  t = await createTestDatabase();
  const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-sqs-"));
  const store = createFsBlobStore(dir);
  await store.ensureBuckets(["large"]);
  large = { store, bucket: "large" };
});
afterAll(async () => {
  await sqs?.close();
  await t?.destroy();
});

const newBackend = () =>
  new SqsQueueBackend({
    client: fakeSqsClient(sqs),
    queues: {
      asyncUrl: sqs.queueUrl("async"),
      asyncFifoUrl: sqs.queueUrl("async.fifo"),
      dlqUrl: sqs.queueUrl("dlq"),
      dlqFifoUrl: sqs.queueUrl("dlq.fifo"),
    },
    largeMessages: large,
    waitTimeSeconds: 0,
    log,
  });

const outbox = (over: Partial<OutboxMessage> = {}): OutboxMessage => ({
  id: String(nextId++),
  name: "tests.record",
  payload: { value: "v" },
  payloadObject: null,
  groupKey: null,
  dedupKey: null,
  maxReceives: 3,
  ...over,
});

const claimOpts = (over: Partial<ClaimOptions> = {}): ClaimOptions => ({
  limit: 10,
  visibilityTimeoutMs: 30_000,
  names: ["tests.record"],
  ...over,
});

/** Claims until nothing more comes (so both queues are asked). */
async function claimAll(
  backend: SqsQueueBackend,
  over: Partial<ClaimOptions> = {},
): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  for (let i = 0; i < 2; i++) {
    const { messages } = await backend.claim(claimOpts(over));
    out.push(...messages);
  }
  return out;
}

async function drainQueues(): Promise<void> {
  sqs.reset();
  await t.pool.query("delete from queue_messages");
}

describe("SQS queue backend", () => {
  afterEach(drainQueues);

  it("sends, receives and acks a message", async () => {
    const backend = newBackend();
    await backend.send(outbox({ id: "42", payload: { value: "hello" } }));
    const [m, ...rest] = await claimAll(backend);
    expect(rest).toEqual([]);
    expect(m).toMatchObject({
      id: "42",
      name: "tests.record",
      receiveCount: 1,
      maxReceives: 3,
      groupKey: null,
    });
    expect(await backend.loadPayload(m as ReceivedMessage)).toEqual({
      value: "hello",
    });
    expect(await backend.ack(m as ReceivedMessage)).toBe(true);
    expect(sqs.messages("async")).toEqual([]);
  });

  it("redelivers a message whose visibility timeout ran out, and fences the old receive", async () => {
    const backend = newBackend();
    await backend.send(outbox());
    const [first] = await claimAll(backend, { visibilityTimeoutMs: 1000 });
    expect(first?.receiveCount).toBe(1);
    expect(await claimAll(backend)).toEqual([]);
    await sleep(1100);
    const [second] = await claimAll(backend);
    expect(second).toMatchObject({ id: first?.id, receiveCount: 2 });
    expect(await backend.extend(first as ReceivedMessage, 30_000)).toBe(false);
    expect(await backend.extend(second as ReceivedMessage, 30_000)).toBe(true);
    await backend.ack(second as ReceivedMessage);
    expect(sqs.messages("async")).toEqual([]);
  });

  it("makes a nacked message visible again after the delay", async () => {
    const backend = newBackend();
    await backend.send(outbox());
    const [m] = await claimAll(backend);
    expect(
      await backend.nack(m as ReceivedMessage, { delayMs: 0, error: "x" }),
    ).toBe(true);
    const [again] = await claimAll(backend);
    expect(again?.receiveCount).toBe(2);
  });

  it("lets SQS move a message to the DLQ after 3 receives without a delete", async () => {
    const backend = newBackend();
    await backend.send(outbox({ id: "dead-1" }));
    for (let receive = 1; receive <= 3; receive++) {
      const [m] = await claimAll(backend);
      expect(m?.receiveCount).toBe(receive);
      await backend.nack(m as ReceivedMessage, { delayMs: 0, error: "boom" });
    }
    expect(await claimAll(backend)).toEqual([]);
    expect(sqs.messages("async")).toEqual([]);
    const [dead] = sqs.messages("dlq");
    expect(JSON.parse(dead?.body ?? "{}")).toMatchObject({
      id: "dead-1",
      name: "tests.record",
    });
  });

  it("dead-letters explicitly: sent to the DLQ with the reason, deleted from the queue", async () => {
    const backend = newBackend();
    await backend.send(outbox({ id: "perm-1" }));
    const [m] = await claimAll(backend);
    expect(
      await backend.deadLetter(m as ReceivedMessage, {
        reason: "permanent failure",
        error: "PermanentJobError: nope",
      }),
    ).toBe(true);
    expect(sqs.messages("async")).toEqual([]);
    const [dead] = sqs.messages("dlq");
    expect(JSON.parse(dead?.body ?? "{}")).toMatchObject({
      id: "perm-1",
      deadLetter: {
        reason: "permanent failure",
        error: "PermanentJobError: nope",
      },
    });
  });

  it("dead-letters a message received beyond a job's own lower limit", async () => {
    const backend = newBackend();
    await backend.send(outbox({ id: "once", maxReceives: 1 }));
    const [m] = await claimAll(backend);
    await backend.nack(m as ReceivedMessage, { delayMs: 0, error: "x" });
    const { messages, deadLettered } = await backend.claim(claimOpts());
    const again = await backend.claim(claimOpts());
    expect([...messages, ...again.messages]).toEqual([]);
    expect([...deadLettered, ...again.deadLettered]).toMatchObject([
      { id: "once", receiveCount: 2, maxReceives: 1 },
    ]);
    expect(sqs.messages("dlq")).toHaveLength(1);
  });

  it("keeps FIFO groups in order with one message per group in flight", async () => {
    const backend = newBackend();
    for (const value of ["a1", "a2", "a3"])
      await backend.send(outbox({ groupKey: "stack:a", payload: { value } }));
    await backend.send(
      outbox({ groupKey: "stack:b", payload: { value: "b1" } }),
    );
    expect(sqs.messages("async.fifo").map((m) => m.groupId)).toEqual([
      "stack:a",
      "stack:a",
      "stack:a",
      "stack:b",
    ]);
    const order: string[] = [];
    for (let round = 0; round < 10 && order.length < 4; round++) {
      const got = await claimAll(backend);
      const groups = got.map((m) => m.groupKey);
      expect(new Set(groups).size).toBe(groups.length);
      for (const m of got) {
        order.push(((await backend.loadPayload(m)) as { value: string }).value);
        await backend.ack(m);
      }
    }
    expect(order.filter((v) => v.startsWith("a"))).toEqual(["a1", "a2", "a3"]);
    expect(order).toContain("b1");
  });

  it("retries a failed FIFO message before the group's next one", async () => {
    const backend = newBackend();
    await backend.send(outbox({ groupKey: "g", payload: { value: "1" } }));
    await backend.send(outbox({ groupKey: "g", payload: { value: "2" } }));
    const [first] = await claimAll(backend);
    await backend.nack(first as ReceivedMessage, { delayMs: 0, error: "x" });
    const [again] = await claimAll(backend);
    expect(await backend.loadPayload(again as ReceivedMessage)).toEqual({
      value: "1",
    });
    expect(again?.receiveCount).toBe(2);
  });

  it("carries a payload over 256 KiB through the large-messages store", async () => {
    const backend = newBackend();
    const big = "x".repeat(300 * 1024);
    await enqueue(t.db, "tests.record", { value: "placeholder" });
    await backend.enqueue(t.db, {
      name: "tests.record",
      payload: { value: big },
    });
    const relay = new SqsRelay({
      pgPool: t.pool,
      backend,
      log,
      pollIntervalMs: 50,
    });
    expect(await relay.relayOnce()).toBe(2);
    const [body] = sqs
      .messages("async")
      .map((m) => JSON.parse(m.body) as { payloadObject?: string })
      .filter((b) => b.payloadObject);
    expect(body?.payloadObject).toMatch(/^tests\.record\//);
    const got = await claimAll(backend);
    const bigOne = got.find((m) => m.payloadObject !== null);
    expect(
      (
        (await backend.loadPayload(bigOne as ReceivedMessage)) as {
          value: string;
        }
      ).value,
    ).toHaveLength(big.length);
    for (const m of got) await backend.ack(m);
    await expect(
      large.store.get(large.bucket, body?.payloadObject ?? ""),
    ).rejects.toThrow();
  });
});

describe("SQS outbox relay and drain", () => {
  afterEach(drainQueues);

  it("runs a job enqueued in a committed transaction, never one from a rolled-back one", async () => {
    const backend = newBackend();
    const seen: string[] = [];
    const drain = new Drain({
      pgPool: t.pool,
      backend,
      listen: false,
      concurrency: 2,
      pollIntervalMs: 50,
      log,
      catalog: {
        "tests.record": defineJob(
          z.object({ value: z.string() }),
          async ({ value }) => {
            seen.push(value);
          },
        ),
      },
    });
    const relay = new SqsRelay({
      pgPool: t.pool,
      backend,
      log,
      pollIntervalMs: 50,
    });
    await t.db.transaction().execute(async (tx) => {
      await enqueue(tx, "tests.record", { value: "committed" });
    });
    await t.db
      .transaction()
      .execute(async (tx) => {
        await enqueue(tx, "tests.record", { value: "rolled-back" });
        throw new Error("roll back");
      })
      .catch(() => undefined);
    // Before the relay runs, the job is only in the outbox.
    expect(sqs.messages("async")).toEqual([]);
    await drain.start();
    relay.start();
    try {
      await until(() => seen.includes("committed"));
      await until(async () => {
        const { rows } = await t.pool.query<{ n: number }>(
          "select count(*)::int as n from queue_messages",
        );
        return rows[0]?.n === 0 && sqs.messages("async").length === 0;
      });
      await sleep(300);
      expect(seen).toEqual(["committed"]);
    } finally {
      await relay.stop();
      await drain.stop();
    }
  });

  it("sends a FIFO group's rows in enqueue order and keeps a not-yet-due row", async () => {
    const backend = newBackend();
    for (const value of ["1", "2", "3"])
      await enqueue(t.db, "tests.record", { value }, { queue: "stack:x" });
    await enqueue(
      t.db,
      "tests.record",
      { value: "later" },
      { runAt: new Date(Date.now() + 60_000) },
    );
    const relay = new SqsRelay({
      pgPool: t.pool,
      backend,
      log,
      pollIntervalMs: 50,
    });
    expect(await relay.relayOnce()).toBe(3);
    expect(
      sqs
        .messages("async.fifo")
        .map(
          (m) =>
            (JSON.parse(m.body) as { payload: { value: string } }).payload
              .value,
        ),
    ).toEqual(["1", "2", "3"]);
    const { rows } = await t.pool.query<{ n: number }>(
      "select count(*)::int as n from queue_messages",
    );
    expect(rows[0]?.n).toBe(1);
  });
});
