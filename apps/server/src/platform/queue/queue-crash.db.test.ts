import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  EFFECT_TABLES_SQL,
  effectCatalog,
} from "../../../test/fixtures/queue/effect-job.ts";
import { createLogger } from "../log/logger.ts";
import { Drain, enqueue } from "./index.ts";

const log = createLogger({ level: "silent", format: "json" });
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../../../..");
const script = path.resolve(
  here,
  "../../../test/fixtures/queue/crash-drain.ts",
);

async function until(
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("a drain killed mid-job", () => {
  let t: TestDatabase;
  let child: ChildProcess | null = null;
  let drain: Drain | null = null;

  beforeAll(async () => {
    t = await createTestDatabase();
    await sql.raw(EFFECT_TABLES_SQL).execute(t.db);
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null)
      child.kill("SIGKILL");
    await drain?.stop();
    await t.destroy();
  });

  it("has its job redelivered and applied exactly once in effect", async () => {
    await sql`insert into queue_test_counters (key) values ('k')`.execute(t.db);
    await enqueue(t.db, "effects.apply", { key: "k" });

    let output = "";
    let stderr = "";
    child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: t.url,
        VISIBILITY_TIMEOUT_MS: "1000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) =>
      child?.once("exit", () => resolve()),
    );
    try {
      await until(() => output.includes("committed 1"), 30_000);
    } catch (err) {
      throw new Error(
        `the child drain never applied the effect; stderr: ${stderr}`,
        { cause: err },
      );
    }
    child.kill("SIGKILL");
    await exited;

    // The effect committed, but the message was never acked: it is still in the queue.
    const { rows: pending } = await sql<{ receive_count: number }>`
      select receive_count from queue_messages where name = 'effects.apply'`.execute(
      t.db,
    );
    expect(pending).toEqual([{ receive_count: 1 }]);

    const attempts: number[] = [];
    drain = new Drain({
      pgPool: t.pool,
      catalog: effectCatalog(
        t.db,
        async (attempt) => void attempts.push(attempt),
      ),
      concurrency: 2,
      pollIntervalMs: 50,
      visibilityTimeoutMs: 1000,
      log,
    });
    await drain.start();
    await until(async () => {
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from queue_messages`.execute(t.db);
      return attempts.length === 1 && rows[0]?.n === 0;
    });

    expect(attempts).toEqual([2]);
    const { rows: counters } = await sql<{
      applied: number;
    }>`select applied from queue_test_counters where key = 'k'`.execute(t.db);
    expect(counters).toEqual([{ applied: 1 }]);
    const { rows: markers } = await sql<{
      n: number;
    }>`select count(*)::int as n from queue_test_effects`.execute(t.db);
    expect(markers).toEqual([{ n: 1 }]);
    const { rows: dead } = await sql<{
      n: number;
    }>`select count(*)::int as n from queue_dead_letters`.execute(t.db);
    expect(dead).toEqual([{ n: 0 }]);
  });
});
