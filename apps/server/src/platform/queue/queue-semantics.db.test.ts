import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { createDatabase, type DatabaseHandle } from "../db/index.ts";
import { createLogger } from "../log/logger.ts";
import { createFsBlobStore, type BlobStore } from "../storage/index.ts";
import {
  createEnqueue,
  defineJob,
  Drain,
  enqueue,
  MAX_INLINE_PAYLOAD_BYTES,
  PayloadTooLargeError,
  PermanentJobError,
  PostgresQueueBackend,
  type DrainOptions,
  type JobCatalog,
} from "./index.ts";

const log = createLogger({ level: "silent", format: "json" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(25);
  }
}

describe("queue semantics", () => {
  let t: TestDatabase;
  const handles: DatabaseHandle[] = [];
  const drains: Drain[] = [];

  const startDrain = async (
    catalog: JobCatalog,
    extra: Partial<DrainOptions> = {},
    pool = t.pool,
  ): Promise<Drain> => {
    const drain = new Drain({
      pgPool: pool,
      catalog,
      concurrency: 5,
      pollIntervalMs: 100,
      log,
      ...extra,
    });
    drains.push(drain);
    await drain.start();
    return drain;
  };
  const separatePool = (): DatabaseHandle => {
    const handle = createDatabase({ url: t.url, poolSize: 4, log });
    handles.push(handle);
    return handle;
  };
  const count = async (
    table: "queue_messages" | "queue_dead_letters",
    name: string,
  ): Promise<number> => {
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from ${sql.table(table)} where name = ${name}`.execute(
      t.db,
    );
    return rows[0]?.n ?? -1;
  };

  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterEach(async () => {
    for (const d of drains.splice(0)) await d.stop();
  });
  afterAll(async () => {
    for (const h of handles) await h.close();
    await t.destroy();
  });

  it("gives each of 200 messages to exactly one of 3 racing drains", async () => {
    const processed: string[] = [];
    const byDrain = [0, 0, 0];
    for (const [i] of byDrain.entries()) {
      await startDrain(
        {
          "race.work": defineJob(z.object({ n: z.number() }), async ({ n }) => {
            processed.push(String(n));
            byDrain[i]!++;
            await sleep(Math.random() * 5);
          }),
        },
        { concurrency: 4, pollIntervalMs: 20 },
        separatePool().pool,
      );
    }
    await t.db.transaction().execute(async (tx) => {
      for (let n = 0; n < 200; n++) await enqueue(tx, "race.work", { n });
    });
    await until(
      async () =>
        processed.length >= 200 &&
        (await count("queue_messages", "race.work")) === 0,
    );
    await sleep(200);
    expect(processed).toHaveLength(200);
    expect(new Set(processed).size).toBe(200);
    expect(await count("queue_dead_letters", "race.work")).toBe(0);
    expect(byDrain.reduce((a, b) => a + b, 0)).toBe(200);
  });

  it("runs a FIFO group one message at a time, in order, across drains", async () => {
    const order: Record<string, number[]> = { a: [], b: [] };
    const active: Record<string, number> = { a: 0, b: 0 };
    let maxActive = 0;
    const catalog: JobCatalog = {
      "fifo.step": defineJob(
        z.object({ group: z.enum(["a", "b"]), seq: z.number() }),
        async ({ group, seq }) => {
          active[group]!++;
          maxActive = Math.max(maxActive, active[group]!);
          await sleep(Math.random() * 8);
          order[group]!.push(seq);
          active[group]!--;
        },
      ),
    };
    for (let i = 0; i < 3; i++)
      await startDrain(
        catalog,
        { concurrency: 5, pollIntervalMs: 20 },
        separatePool().pool,
      );
    for (let seq = 0; seq < 25; seq++) {
      await enqueue(
        t.db,
        "fifo.step",
        { group: "a", seq },
        { queue: "group-a" },
      );
      await enqueue(
        t.db,
        "fifo.step",
        { group: "b", seq },
        { queue: "group-b" },
      );
    }
    const expected = Array.from({ length: 25 }, (_, i) => i);
    await until(() => order.a!.length === 25 && order.b!.length === 25, 30_000);
    expect(order.a).toEqual(expected);
    expect(order.b).toEqual(expected);
    expect(maxActive).toBe(1);
  });

  it("holds a FIFO group while its head waits for a retry", async () => {
    const runs: string[] = [];
    let failures = 0;
    await startDrain(
      {
        "fifo.flaky": defineJob(
          z.object({ id: z.string() }),
          async ({ id }) => {
            if (id === "first" && failures++ === 0) throw new Error("once");
            runs.push(id);
          },
        ),
      },
      { retryDelayMs: () => 300 },
    );
    await enqueue(t.db, "fifo.flaky", { id: "first" }, { queue: "g" });
    await enqueue(t.db, "fifo.flaky", { id: "second" }, { queue: "g" });
    await until(() => runs.length === 2);
    expect(runs).toEqual(["first", "second"]);
  });

  it("redelivers a message whose receiver never acked once the visibility timeout ends", async () => {
    await enqueue(t.db, "vis.job", { v: 1 });
    const crashed = new PostgresQueueBackend({
      pgPool: t.pool,
      largeMessages: null,
    });
    const first = await crashed.claim({
      limit: 10,
      visibilityTimeoutMs: 500,
      names: ["vis.job"],
    });
    expect(first.messages.map((m) => m.receiveCount)).toEqual([1]);
    // Hidden while the (crashed) receiver's timeout runs.
    expect(
      (
        await crashed.claim({
          limit: 10,
          visibilityTimeoutMs: 500,
          names: ["vis.job"],
        })
      ).messages,
    ).toEqual([]);

    const attempts: number[] = [];
    await startDrain({
      "vis.job": defineJob(z.object({ v: z.number() }), async (_p, ctx) => {
        attempts.push(ctx.attempt);
      }),
    });
    await until(
      async () =>
        attempts.length === 1 &&
        (await count("queue_messages", "vis.job")) === 0,
    );
    expect(attempts).toEqual([2]);
    // The crashed receiver's late ack is fenced off by the newer receive.
    expect(await crashed.ack(first.messages[0]!)).toBe(false);
  });

  it("keeps a slow handler's message hidden with heartbeats", async () => {
    const attempts: number[] = [];
    await startDrain(
      {
        "vis.slow": defineJob(z.object({}), async (_p, ctx) => {
          attempts.push(ctx.attempt);
          await sleep(1200);
        }),
      },
      { visibilityTimeoutMs: 300 },
    );
    await startDrain(
      {
        "vis.slow": defineJob(
          z.object({}),
          async (_p, ctx) => void attempts.push(ctx.attempt),
        ),
      },
      {},
      separatePool().pool,
    );
    await enqueue(t.db, "vis.slow", {});
    await until(async () => (await count("queue_messages", "vis.slow")) === 0);
    expect(attempts).toEqual([1]);
  });

  it("dead-letters a message after 3 failed receives, with the last error", async () => {
    let calls = 0;
    await startDrain(
      {
        "dlq.fail": defineJob(z.object({}), async () => {
          calls++;
          throw new Error(`boom ${calls}`);
        }),
      },
      { retryDelayMs: () => 20 },
    );
    await enqueue(t.db, "dlq.fail", {});
    await until(
      async () => (await count("queue_dead_letters", "dlq.fail")) === 1,
    );
    const { rows } = await sql<{
      receive_count: number;
      last_error: string;
      reason: string;
    }>`
      select receive_count, last_error, reason from queue_dead_letters where name = 'dlq.fail'`.execute(
      t.db,
    );
    expect(rows[0]).toEqual({
      receive_count: 3,
      last_error: "Error: boom 3",
      reason: "failed on all 3 allowed receives",
    });
    expect(await count("queue_messages", "dlq.fail")).toBe(0);
    expect(calls).toBe(3);
  });

  it("dead-letters instead of delivering a message received 3 times without an ack", async () => {
    await enqueue(t.db, "dlq.crash", {});
    const backend = new PostgresQueueBackend({
      pgPool: t.pool,
      largeMessages: null,
    });
    const claim = () =>
      backend.claim({ limit: 1, visibilityTimeoutMs: 1, names: ["dlq.crash"] });
    for (let receive = 1; receive <= 3; receive++) {
      let got: Awaited<ReturnType<typeof claim>> = {
        messages: [],
        deadLettered: [],
      };
      await until(async () => (got = await claim()).messages.length === 1);
      expect(got.messages[0]?.receiveCount).toBe(receive);
    }
    let last: Awaited<ReturnType<typeof claim>> = {
      messages: [],
      deadLettered: [],
    };
    await until(async () => (last = await claim()).deadLettered.length === 1);
    expect(last.messages).toEqual([]);
    const { rows } = await sql<{
      reason: string;
    }>`select reason from queue_dead_letters where name = 'dlq.crash'`.execute(
      t.db,
    );
    expect(rows[0]?.reason).toMatch(
      /received 3 times without being acknowledged/,
    );
    expect(await count("queue_messages", "dlq.crash")).toBe(0);
  });

  it("lets a job definition's maxAttempts override the message's", async () => {
    let calls = 0;
    await startDrain(
      {
        "dlq.once": defineJob(
          z.object({}),
          async () => {
            calls++;
            throw new Error("nope");
          },
          { maxAttempts: 1 },
        ),
      },
      { retryDelayMs: () => 20 },
    );
    await enqueue(t.db, "dlq.once", {}, { maxAttempts: 5 });
    await until(
      async () => (await count("queue_dead_letters", "dlq.once")) === 1,
    );
    expect(calls).toBe(1);
  });

  it("dead-letters an invalid payload and a PermanentJobError once, without retrying", async () => {
    let invalidCalls = 0;
    let permanentCalls = 0;
    await startDrain(
      {
        "bad.payload": defineJob(
          z.object({ id: z.string() }),
          async () => void invalidCalls++,
        ),
        "bad.permanent": defineJob(z.object({}), async () => {
          permanentCalls++;
          throw new PermanentJobError("stack no longer exists");
        }),
      },
      { retryDelayMs: () => 20 },
    );
    await enqueue(t.db, "bad.payload", { id: 7 });
    await enqueue(t.db, "bad.permanent", {});
    await until(
      async () =>
        (await count("queue_dead_letters", "bad.payload")) +
          (await count("queue_dead_letters", "bad.permanent")) ===
        2,
    );
    await sleep(200);
    const { rows } = await sql<{
      name: string;
      reason: string;
      last_error: string | null;
      receive_count: number;
    }>`
      select name, reason, last_error, receive_count from queue_dead_letters where name like 'bad.%' order by name`.execute(
      t.db,
    );
    expect(rows).toEqual([
      {
        name: "bad.payload",
        reason: expect.stringMatching(/^payload failed validation: id: /),
        last_error: null,
        receive_count: 1,
      },
      {
        name: "bad.permanent",
        reason: "permanent failure",
        last_error: "Error: stack no longer exists",
        receive_count: 1,
      },
    ]);
    expect(invalidCalls).toBe(0);
    expect(permanentCalls).toBe(1);
  });

  describe("large payloads", () => {
    let dir: string;
    let store: BlobStore;
    const bucket = "large-queue-messages";

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-queue-large-"));
      store = createFsBlobStore(dir);
      await store.ensureBuckets([bucket]);
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("stores a payload over 256 KiB in the bucket and deletes it after the ack", async () => {
      const enqueueLarge = createEnqueue({ store, bucket });
      const blob = "x".repeat(MAX_INLINE_PAYLOAD_BYTES + 1);
      await t.db
        .transaction()
        .execute(async (tx) =>
          enqueueLarge(
            tx,
            "large.job",
            { blob },
            { runAt: new Date(Date.now() + 300) },
          ),
        );
      const { rows } = await sql<{ payload: unknown; payload_object: string }>`
        select payload, payload_object from queue_messages where name = 'large.job'`.execute(
        t.db,
      );
      expect(rows[0]?.payload).toBeNull();
      const key = rows[0]!.payload_object;
      expect(await store.head(bucket, key)).not.toBeNull();

      const received: string[] = [];
      await startDrain(
        {
          "large.job": defineJob(
            z.object({ blob: z.string() }),
            async ({ blob }) => void received.push(blob),
          ),
        },
        { largeMessages: { store, bucket } },
      );
      // The ack deletes the row, then the object: wait for both, not only the row.
      await until(
        async () =>
          received.length === 1 &&
          (await count("queue_messages", "large.job")) === 0 &&
          (await store.head(bucket, key)) === null,
      );
      expect(received[0]).toBe(blob);
      expect(await store.head(bucket, key)).toBeNull();
    });

    it("refuses an oversize payload when no bucket is configured", async () => {
      const blob = "x".repeat(MAX_INLINE_PAYLOAD_BYTES + 1);
      await expect(enqueue(t.db, "large.job", { blob })).rejects.toThrow(
        PayloadTooLargeError,
      );
      await expect(enqueue(t.db, "large.job", { blob })).rejects.toThrow(
        /no large-messages bucket is configured/,
      );
      expect(await count("queue_messages", "large.job")).toBe(0);
    });
  });

  describe("LISTEN/NOTIFY", () => {
    it("wakes a drain on enqueue long before its poll interval", async () => {
      const ran: number[] = [];
      await startDrain(
        {
          "wake.job": defineJob(
            z.object({ n: z.number() }),
            async ({ n }) => void ran.push(n),
          ),
        },
        { pollIntervalMs: 600_000 },
      );
      await sleep(100);
      await enqueue(t.db, "wake.job", { n: 1 });
      await until(() => ran.length === 1, 10_000);
    });

    it("reconnects after losing its LISTEN connection", async () => {
      const ran: number[] = [];
      await startDrain(
        {
          "wake.again": defineJob(
            z.object({ n: z.number() }),
            async ({ n }) => void ran.push(n),
          ),
        },
        { pollIntervalMs: 600_000 },
      );
      await sleep(100);
      const listenPids = async () =>
        (
          await sql<{ pid: number }>`select pid from pg_stat_activity
            where datname = current_database() and application_name = 'stackyard-queue-listen'`.execute(
            t.db,
          )
        ).rows.map((r) => r.pid);
      const before = await listenPids();
      expect(before).toHaveLength(1);
      await sql`select pg_terminate_backend(${before[0]!})`.execute(t.db);
      await until(async () => {
        const now = await listenPids();
        return now.length === 1 && now[0] !== before[0];
      }, 10_000);
      await enqueue(t.db, "wake.again", { n: 2 });
      await until(() => ran.length === 1, 10_000);
    });
  });
});
