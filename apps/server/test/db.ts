import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { createDatabase, type Database } from "../src/platform/db/index.ts";
import { createLogger } from "../src/platform/log/logger.ts";
import type pg from "pg";
import { adminQuery, withDatabase } from "./global-setup.ts";

export interface TestDatabase {
  db: Database;
  pool: pg.Pool;
  url: string;
  name: string;
  destroy(): Promise<void>;
}

/** A fresh, fully migrated database cloned from the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject("pgAdminUrl");
  const template = inject("pgTemplate");
  const name = `stackyard_t_${template.split("_").pop()}_${randomBytes(5).toString("hex")}`;
  await adminQuery(adminUrl, `create database ${name} template ${template}`);
  const url = withDatabase(adminUrl, name);
  const handle = createDatabase({
    url,
    poolSize: 5,
    log: createLogger({ level: "warn", format: "json" }),
  });
  return {
    db: handle.db,
    pool: handle.pool,
    url,
    name,
    async destroy() {
      await handle.close();
      await adminQuery(
        adminUrl,
        `drop database if exists ${name} with (force)`,
      );
    },
  };
}

/** A throwaway empty database (no migrations), for migration tests. */
export async function createEmptyDatabase(): Promise<{
  url: string;
  destroy(): Promise<void>;
}> {
  const adminUrl = inject("pgAdminUrl");
  const name = `stackyard_t_${inject("pgTemplate").split("_").pop()}_${randomBytes(5).toString("hex")}`;
  await adminQuery(adminUrl, `create database ${name}`);
  return {
    url: withDatabase(adminUrl, name),
    destroy: () =>
      adminQuery(adminUrl, `drop database if exists ${name} with (force)`).then(
        () => undefined,
      ),
  };
}
