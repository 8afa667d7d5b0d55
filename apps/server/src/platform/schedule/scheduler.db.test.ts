import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { Scheduler } from "./scheduler.ts";

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("scheduler leadership", () => {
  let t: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    t = await createTestDatabase();
    // One connection: a lock connection the scheduler failed to give back would leave
    // it nothing to take the lock again with.
    pool = new pg.Pool({ connectionString: t.url, max: 1 });
    pool.on("error", () => undefined);
  });

  afterAll(async () => {
    await pool?.end();
    await t?.destroy();
  });

  it("takes the lock again after its lock connection is cut, every time (a database restart)", async () => {
    const scheduler = new Scheduler({
      db: t.db,
      pgPool: pool,
      entries: [],
      log: silentLog,
      lockRetryMs: 50,
    });
    await scheduler.start();
    try {
      expect(scheduler.isLeader).toBe(true);
      for (let cut = 1; cut <= 3; cut++) {
        const { rows } = await t.pool.query<{ pid: number }>(
          `select pid from pg_locks where locktype = 'advisory' and granted
              and database = (select oid from pg_database where datname = current_database())`,
        );
        expect(rows).toHaveLength(1);
        await t.pool.query("select pg_terminate_backend($1)", [rows[0]?.pid]);
        await until(`losing the lock (cut ${cut})`, () => !scheduler.isLeader);
        await until(`the lock again (cut ${cut})`, () => scheduler.isLeader);
      }
    } finally {
      await scheduler.stop();
    }
  });
});
