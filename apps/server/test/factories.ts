import { ulid } from "ulid";
import type { Insertable } from "kysely";
import type {
  Database,
  StacksTable,
  WorkerPoolsTable,
  WorkersTable,
} from "../src/platform/db/index.ts";

/**
 * Row factories for DB-backed tests: each writes one row directly (no service, no
 * access checks) and returns it. Overrides use the table's column names.
 */

export async function buildPool(
  db: Database,
  overrides: Partial<Insertable<WorkerPoolsTable>> = {},
) {
  const id = overrides.id ?? `wp_${ulid().toLowerCase()}`;
  return db
    .insertInto("worker_pools")
    .values({
      id,
      name: id,
      space_id: "root",
      token_hash: "0".repeat(64),
      ...overrides,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function buildWorker(
  db: Database,
  overrides: Partial<Insertable<WorkersTable>> & { worker_pool_id: string },
) {
  const id = overrides.id ?? `wrk_${ulid().toLowerCase()}`;
  return db
    .insertInto("workers")
    .values({
      id,
      status: "IDLE",
      metadata: JSON.stringify({ host: id }),
      ...overrides,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function buildStack(
  db: Database,
  overrides: Partial<Insertable<StacksTable>> = {},
) {
  const id = overrides.id ?? `stk-${ulid().toLowerCase()}`;
  return db
    .insertInto("stacks")
    .values({
      id,
      name: id,
      space_id: "root",
      repository: "acme/infra",
      branch: "main",
      ...overrides,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}
