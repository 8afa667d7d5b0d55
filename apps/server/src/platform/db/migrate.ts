import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  Migrator,
  sql,
  type Migration,
  type MigrationProvider,
  type MigrationResult,
} from "kysely";
import type { Database } from "./database.ts";

export const MIGRATIONS_DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "migrations",
);

/**
 * Forward-only numbered SQL files (`0001_name.sql`). There are no down migrations: a
 * mistake is fixed by the next migration.
 */
export class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly dir: string = MIGRATIONS_DIR) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.dir))
      .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
      .sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const text = await readFile(path.join(this.dir, file), "utf8");
      migrations[file.replace(/\.sql$/, "")] = {
        up: async (db) => {
          await sql.raw(text).execute(db);
        },
      };
    }
    return migrations;
  }
}

export class MigrationError extends Error {}

/**
 * Applies pending migrations. Kysely's migrator takes a row lock on its lock table for
 * the whole run and applies each file in its own transaction, so several replicas
 * starting at once apply each migration exactly once; the others wait, then find
 * nothing to do. A database that has a migration this build does not know refuses to
 * start (an older build must not run against a newer schema).
 */
export async function migrateToLatest(
  db: Database,
  dir?: string,
): Promise<{ applied: string[] }> {
  const migrator = new Migrator({
    db,
    provider: new SqlFileMigrationProvider(dir),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r: MigrationResult) => r.status === "Error");
  if (error) {
    const which = failed ? ` (migration ${failed.migrationName})` : "";
    throw new MigrationError(
      `applying database migrations failed${which}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return {
    applied: (results ?? [])
      .filter((r) => r.status === "Success")
      .map((r) => r.migrationName),
  };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
