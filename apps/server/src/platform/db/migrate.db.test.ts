import { mkdtemp, writeFile, copyFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { createEmptyDatabase } from "../../../test/db.ts";
import { createLogger } from "../log/logger.ts";
import { createDatabase, type DatabaseHandle } from "./database.ts";
import { migrateToLatest, MIGRATIONS_DIR, MigrationError } from "./migrate.ts";
import {
  judgePostgresVersion,
  checkPostgresVersion,
} from "./postgres-version.ts";

const log = createLogger({ level: "silent", format: "json" });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function emptyDb(): Promise<DatabaseHandle> {
  const empty = await createEmptyDatabase();
  const handle = createDatabase({ url: empty.url, poolSize: 5, log });
  cleanups.push(empty.destroy, handle.close);
  return handle;
}

describe("migrations", () => {
  it("apply every numbered file to an empty database and create the foundation tables", async () => {
    const { db } = await emptyDb();
    const { applied } = await migrateToLatest(db);
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) =>
      f.endsWith(".sql"),
    );
    expect(applied).toHaveLength(files.length);
    expect(applied[0]).toBe("0001_foundation");
    const root = await db
      .selectFrom("spaces")
      .select(["id", "parent_space_id"])
      .where("id", "=", "root")
      .executeTakeFirst();
    expect(root).toEqual({ id: "root", parent_space_id: null });
  });

  it("apply nothing the second time", async () => {
    const { db } = await emptyDb();
    await migrateToLatest(db);
    expect((await migrateToLatest(db)).applied).toEqual([]);
  });

  it("apply each migration exactly once when several replicas start at the same time", async () => {
    const { db } = await emptyDb();
    const results = await Promise.all([
      migrateToLatest(db),
      migrateToLatest(db),
      migrateToLatest(db),
    ]);
    const all = results.flatMap((r) => r.applied);
    expect(new Set(all).size).toBe(all.length);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from kysely_migration`.execute(db);
    expect(rows[0]?.n).toBe(all.length);
  });

  it("refuse to run when the database has a migration this build does not know", async () => {
    const { db } = await emptyDb();
    const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-mig-"));
    for (const f of await readdir(MIGRATIONS_DIR))
      await copyFile(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
    await writeFile(
      path.join(dir, "9999_from_the_future.sql"),
      "create table future (id int);",
    );
    await migrateToLatest(db, dir);
    await expect(migrateToLatest(db)).rejects.toThrow(MigrationError);
  });

  it("roll back a failing migration and name it in the error", async () => {
    const { db } = await emptyDb();
    const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-mig-"));
    for (const f of await readdir(MIGRATIONS_DIR))
      await copyFile(path.join(MIGRATIONS_DIR, f), path.join(dir, f));
    await writeFile(
      path.join(dir, "9998_broken.sql"),
      "create table half_done (id int);\nselect * from no_such_table;",
    );
    await expect(migrateToLatest(db, dir)).rejects.toThrow(/9998_broken/);
    const { rows } = await sql<{
      t: string | null;
    }>`select to_regclass('half_done')::text as t`.execute(db);
    expect(rows[0]?.t).toBeNull();
  });
});

describe("postgres version support", () => {
  it("refuses 13 and older with a message that says what to do", () => {
    const v = judgePostgresVersion(130011);
    expect(v.ok).toBe(false);
    expect(v.error).toMatch(/PostgreSQL 13 is not supported.*14 to 17/);
  });

  it("accepts 14 to 17 without a warning", () => {
    for (const n of [140000, 150019, 160004, 170010])
      expect(judgePostgresVersion(n)).toEqual({
        ok: true,
        major: Math.floor(n / 10000),
      });
  });

  it("accepts 18 and newer with a warning", () => {
    const v = judgePostgresVersion(180004);
    expect(v.ok).toBe(true);
    expect(v.warning).toMatch(/has not been tested/);
  });

  it("accepts the server the tests run on", async () => {
    const { db } = await emptyDb();
    await expect(checkPostgresVersion(db)).resolves.toMatchObject({ ok: true });
  });
});
