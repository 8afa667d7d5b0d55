import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { createDatabase, migrateToLatest } from "../src/platform/db/index.ts";
import { createLogger } from "../src/platform/log/logger.ts";
import {
  startEmbeddedPostgres,
  type EmbeddedPostgresServer,
} from "../src/platform/embedded/embedded-postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
  }
}

const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * One Postgres for the whole test run: STACKYARD_TEST_DATABASE_URL, else the machine's
 * server on 127.0.0.1:5432, else an embedded server in a temp dir (so the suite also
 * passes on a machine without Postgres). A migrated template database is built once;
 * each test file clones it (see db.ts).
 */
export default async function setup(
  project: TestProject,
): Promise<() => Promise<void>> {
  const log = createLogger({ level: "warn", format: "json" });
  let embedded: EmbeddedPostgresServer | null = null;
  let tmp: string | null = null;
  let adminUrl = process.env.STACKYARD_TEST_DATABASE_URL ?? null;
  if (
    !adminUrl &&
    process.env.STACKYARD_TEST_EMBEDDED_PG !== "1" &&
    (await canConnect(LOCAL_URL))
  )
    adminUrl = LOCAL_URL;
  if (!adminUrl) {
    tmp = await mkdtemp(path.join(os.tmpdir(), "stackyard-test-pg-"));
    embedded = await startEmbeddedPostgres({
      dataDir: tmp,
      password: "test",
      log,
    });
    adminUrl = embedded.url.replace(/\/stackyard$/, "/postgres");
  }
  const template = `stackyard_tpl_${process.pid}`;
  await adminQuery(adminUrl, `drop database if exists ${template}`);
  await adminQuery(adminUrl, `create database ${template}`);
  const templateUrl = withDatabase(adminUrl, template);
  const handle = createDatabase({ url: templateUrl, poolSize: 2, log });
  try {
    await migrateToLatest(handle.db);
  } finally {
    await handle.close();
  }
  project.provide("pgAdminUrl", adminUrl);
  project.provide("pgTemplate", template);

  return async () => {
    const { rows } = await adminQuery(
      adminUrl,
      `select datname from pg_database where datname like 'stackyard_t_${process.pid}_%' or datname = '${template}'`,
    );
    for (const row of rows as Array<{ datname: string }>) {
      await adminQuery(
        adminUrl,
        `drop database if exists ${row.datname} with (force)`,
      );
    }
    if (embedded) await embedded.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2000,
  });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

export async function adminQuery(
  url: string,
  text: string,
): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
