import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { createLogger } from "../log/logger.ts";
import { defineJob, Drain, enqueue, PermanentJobError } from "./index.ts";

const log = createLogger({ level: "silent", format: "json" });

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
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

  beforeAll(async () => {
    t = await createTestDatabase();
    drain = new Drain({
      pgPool: t.pool,
      concurrency: 2,
      pollIntervalMs: 200,
      log,
      catalog: {
        "tests.record": defineJob(z.object({ value: z.string() }), async ({ value }) => {
          seen.push(value);
        }),
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
    await t.db.transaction().execute(async (tx) => enqueue(tx, "tests.record", { value: "committed" }));
    await until(() => seen.includes("committed"));
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

  it("drops a payload that fails its schema instead of retrying it", async () => {
    await enqueue(t.db, "tests.record", { value: 42 });
    await until(async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'tests.record'`.execute(t.db);
      return rows[0]?.n === 0;
    });
    expect(seen.filter((v) => typeof v !== "string")).toEqual([]);
  });

  it("retries a failing job and stops at success", async () => {
    await enqueue(t.db, "tests.flaky", {}, { maxAttempts: 3 });
    // graphile-worker's first backoff is ~2 s.
    await until(() => flaky >= 2, 20_000);
    expect(flaky).toBe(2);
  });

  it("fails a PermanentJobError at once without retrying", async () => {
    await enqueue(t.db, "tests.permanent", {});
    await until(() => permanent === 1);
    await new Promise((r) => setTimeout(r, 500));
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from graphile_worker.jobs where task_identifier = 'tests.permanent'`.execute(t.db);
    expect(rows[0]?.n).toBe(0);
    expect(permanent).toBe(1);
  });

  it("rejects job names that are not <module>.<verb>", async () => {
    await expect(enqueue(t.db, "Bad Name", {})).rejects.toThrow(/<module>\.<verb>/);
  });
});
