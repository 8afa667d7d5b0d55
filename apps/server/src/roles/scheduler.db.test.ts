import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/db.ts";

const CLI = fileURLToPath(
  new URL("../../../cli/bin/stackyard.js", import.meta.url),
);

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// The scheduler role alone in a process (`stackyard server --roles scheduler`), as a
// deployment with one process per role runs it.
describe("a scheduler-only server process", () => {
  let t: TestDatabase;
  let dataDir: string;

  beforeAll(async () => {
    t = await createTestDatabase();
    dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-scheduler-"));
  });

  afterAll(async () => {
    await t?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps running and takes the lock again when its database connection is cut", async () => {
    let output = "";
    const child = spawn(
      process.execPath,
      [CLI, "server", "--roles", "scheduler", "--data-dir", dataDir],
      {
        env: {
          ...process.env,
          DATABASE_URL: t.url,
          STACKYARD_LOG_LEVEL: "info",
          STACKYARD_LOG_FORMAT: "json",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const leaderLines = () =>
      output.split("scheduler is the leader").length - 1;
    try {
      await until("the scheduler to lead", () => leaderLines() === 1, 150_000);
      await t.pool.query(
        `select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory'
            and granted and database = (select oid from pg_database where datname = current_database())`,
      );
      await until(
        "the scheduler to lead again",
        () => leaderLines() === 2 || child.exitCode !== null,
        30_000,
      );
      expect(child.exitCode, output).toBeNull();
      expect(leaderLines()).toBe(2);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT");
        await exited;
      }
    }
  }, 240_000);
});
