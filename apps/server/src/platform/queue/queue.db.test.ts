import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { createLogger } from "../log/logger.ts";
import {
  defineJob,
  Drain,
  enqueue,
  PermanentJobError,
  PostgresQueueBackend,
} from "./index.ts";

const log = createLogger({ level: "silent", format: "json" });

async function until(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("postgres queue", () => {
  let t: TestDatabase;
  let drain: Drain;
  const seen: string[] = [];
  let flaky = 0;
  let permanent = 0;

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
    drain = new Drain({
      pgPool: t.pool,
      concurrency: 2,
      pollIntervalMs: 200,
      retryDelayMs: () => 50,
      log,
      catalog: {
        "tests.record": defineJob(
          z.object({ value: z.string() }),
          async ({ value }) => {
            seen.push(value);
          },
        ),
        "tests.flaky": defineJob(
          z.object({}),
          async () => {
            flaky++;
            if (flaky < 2) throw new Error("transient");
          },
          { maxAttempts: 3 },
        ),
        "tests.permanent": defineJob(z.object({}), async () => {
          permanent++;
          throw new PermanentJobError("cannot ever work");
        }),
      },
    });
    await drain.start();
  });
  afterAll(async () => {
    await drain.stop();
    await t.destroy();
  });

  it("runs a job enqueued in a committed transaction", async () => {
    await t.db
      .transaction()
      .execute(async (tx) =>
        enqueue(tx, "tests.record", { value: "committed" }),
      );
    await until(() => seen.includes("committed"));
    await until(
      async () => (await count("queue_messages", "tests.record")) === 0,
    );
  });

  it("never runs a job whose transaction rolled back", async () => {
    await expect(
      t.db.transaction().execute(async (tx) => {
        await enqueue(tx, "tests.record", { value: "rolled-back" });
        throw new Error("abort");
      }),
    ).rejects.toThrow("abort");
    await enqueue(t.db, "tests.record", { value: "after-rollback" });
    await until(() => seen.includes("after-rollback"));
    expect(seen).not.toContain("rolled-back");
  });

  it("dead-letters a payload that fails its schema instead of retrying it", async () => {
    await enqueue(t.db, "tests.record", { value: 42 });
    await until(
      async () => (await count("queue_dead_letters", "tests.record")) === 1,
    );
    const { rows } = await sql<{ reason: string; receive_count: number }>`
      select reason, receive_count from queue_dead_letters where name = 'tests.record'`.execute(
      t.db,
    );
    expect(rows[0]?.reason).toMatch(/payload failed validation: value:/);
    expect(rows[0]?.receive_count).toBe(1);
    expect(await count("queue_messages", "tests.record")).toBe(0);
    expect(seen.filter((v) => typeof v !== "string")).toEqual([]);
  });

  it("retries a failing job and stops at success", async () => {
    await enqueue(t.db, "tests.flaky", {}, { maxAttempts: 3 });
    await until(
      async () =>
        flaky >= 2 && (await count("queue_messages", "tests.flaky")) === 0,
    );
    expect(flaky).toBe(2);
    expect(await count("queue_dead_letters", "tests.flaky")).toBe(0);
  });

  it("dead-letters a PermanentJobError at once without retrying", async () => {
    await enqueue(t.db, "tests.permanent", {});
    await until(
      async () => (await count("queue_dead_letters", "tests.permanent")) === 1,
    );
    await new Promise((r) => setTimeout(r, 300));
    const { rows } = await sql<{ reason: string; last_error: string }>`
      select reason, last_error from queue_dead_letters where name = 'tests.permanent'`.execute(
      t.db,
    );
    expect(rows[0]).toEqual({
      reason: "permanent failure",
      last_error: "Error: cannot ever work",
    });
    expect(await count("queue_messages", "tests.permanent")).toBe(0);
    expect(permanent).toBe(1);
  });

  it("deduplicates on jobKey while the first job is pending", async () => {
    const runAt = new Date(Date.now() + 60_000);
    await enqueue(
      t.db,
      "tests.record",
      { value: "dedup-1" },
      { jobKey: "k1", runAt },
    );
    await enqueue(
      t.db,
      "tests.record",
      { value: "dedup-2" },
      { jobKey: "k1", runAt },
    );
    const { rows } = await sql<{ payload: { value: string } }>`
      select payload from queue_messages where dedup_key = 'k1'`.execute(t.db);
    expect(rows.map((r) => r.payload.value)).toEqual(["dedup-1"]);
  });

  it("deduplicates only against messages not yet received; a dead letter keeps the key", async () => {
    const backend = new PostgresQueueBackend({
      pgPool: t.pool,
      largeMessages: null,
    });
    await enqueue(t.db, "tests.held", { n: 1 }, { jobKey: "k2" });
    const first = await backend.claim({
      limit: 5,
      visibilityTimeoutMs: 300_000,
      names: ["tests.held"],
    });
    expect(first.messages).toHaveLength(1);
    // Held by a consumer (alive or dead): the next request is a new pending message,
    // and a burst after it still collapses into that one.
    await enqueue(t.db, "tests.held", { n: 2 }, { jobKey: "k2" });
    await enqueue(t.db, "tests.held", { n: 3 }, { jobKey: "k2" });
    const { rows } = await sql<{
      payload: { n: number };
      dedup_key: string | null;
      claimed_dedup_key: string | null;
    }>`select payload, dedup_key, claimed_dedup_key from queue_messages
       where name = 'tests.held' order by id`.execute(t.db);
    expect(rows).toEqual([
      { payload: { n: 1 }, dedup_key: null, claimed_dedup_key: "k2" },
      { payload: { n: 2 }, dedup_key: "k2", claimed_dedup_key: null },
    ]);
    const [held] = first.messages;
    if (!held) throw new Error("nothing claimed");
    expect(await backend.deadLetter(held, { reason: "test" })).toBe(true);
    const { rows: dead } = await sql<{ dedup_key: string | null }>`
      select dedup_key from queue_dead_letters where name = 'tests.held'`.execute(
      t.db,
    );
    expect(dead).toEqual([{ dedup_key: "k2" }]);
  });

  it("rejects job names that are not <module>.<verb>", async () => {
    await expect(enqueue(t.db, "Bad Name", {})).rejects.toThrow(
      /<module>\.<verb>/,
    );
  });
});
