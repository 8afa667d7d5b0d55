import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { Logger } from "../log/logger.ts";
import { UnavailableError } from "../errors.ts";
import type { DB } from "./schema.ts";

export type Database = Kysely<DB>;

export interface DatabaseHandle {
  db: Database;
  pool: pg.Pool;
  close(): Promise<void>;
}

// Postgres returns int8 (counts, bigserial) as strings by default; every int8 we use fits
// in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Spacelift's connection strings carry a pgx-only parameter that libpq/pg rejects. */
export function normalizeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    u.searchParams.delete("statement_cache_capacity");
    return u.toString();
  } catch {
    return url;
  }
}

export function createDatabase(opts: {
  url: string;
  poolSize: number;
  log: Logger;
}): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: normalizeDatabaseUrl(opts.url),
    max: opts.poolSize,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection (database restart) must not crash the process;
  // the pool discards it and the next query reconnects.
  pool.on("error", (err) =>
    opts.log.warn({ err }, "idle database connection failed"),
  );
  pool.on("connect", (client) => {
    client.on("error", (err) =>
      opts.log.warn({ err }, "database connection failed"),
    );
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    db,
    pool,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

export async function pingDatabase(db: Database): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    throw new UnavailableError("database is not reachable", { cause: err });
  }
}
