import type { Selectable } from "kysely";
import type { Database, WorkerPoolsTable } from "../../platform/db/index.ts";
import type { WorkerPool } from "./worker.ts";

const POOL_COLUMNS = [
  "id",
  "name",
  "description",
  "space_id",
  "labels",
  "is_default",
  "created_at",
] as const;

function toPool(
  row: Pick<Selectable<WorkerPoolsTable>, (typeof POOL_COLUMNS)[number]>,
): WorkerPool {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    spaceId: row.space_id,
    labels: row.labels,
    isDefault: row.is_default,
    createdAt: row.created_at,
  };
}

export async function insertWorkerPool(
  db: Database,
  pool: {
    id: string;
    name: string;
    description?: string;
    spaceId: string;
    tokenHash: string;
    isDefault?: boolean;
  },
): Promise<WorkerPool> {
  const row = await db
    .insertInto("worker_pools")
    .values({
      id: pool.id,
      name: pool.name,
      description: pool.description ?? "",
      space_id: pool.spaceId,
      token_hash: pool.tokenHash,
      is_default: pool.isDefault ?? false,
    })
    .returning(POOL_COLUMNS)
    .executeTakeFirstOrThrow();
  return toPool(row);
}

export async function findWorkerPoolById(
  db: Database,
  id: string,
): Promise<WorkerPool | null> {
  const row = await db
    .selectFrom("worker_pools")
    .select(POOL_COLUMNS)
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toPool(row) : null;
}

/** The stored sha256 (hex) of the pool credential; null when the pool does not exist. */
export async function findWorkerPoolTokenHash(
  db: Database,
  id: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("worker_pools")
    .select("token_hash")
    .where("id", "=", id)
    .executeTakeFirst();
  return row?.token_hash ?? null;
}

export async function updateWorkerPoolTokenHash(
  db: Database,
  id: string,
  tokenHash: string,
): Promise<boolean> {
  const res = await db
    .updateTable("worker_pools")
    .set({ token_hash: tokenHash })
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/**
 * The default pool (is_default, name "default", in the root space), created on first
 * call. Concurrent callers are safe: the partial unique index `worker_pools_one_default`
 * lets exactly one insert win, the others do nothing and read the winner's row.
 */
export async function findOrCreateDefaultPool(
  db: Database,
  candidate: { id: string; tokenHash: string },
): Promise<{ pool: WorkerPool; created: boolean }> {
  const inserted = await db
    .insertInto("worker_pools")
    .values({
      id: candidate.id,
      name: "default",
      description: "Workers started without a dedicated pool.",
      space_id: "root",
      token_hash: candidate.tokenHash,
      is_default: true,
    })
    .onConflict((oc) =>
      oc.column("is_default").where("is_default", "=", true).doNothing(),
    )
    .returning(POOL_COLUMNS)
    .executeTakeFirst();
  if (inserted) return { pool: toPool(inserted), created: true };
  const existing = await db
    .selectFrom("worker_pools")
    .select(POOL_COLUMNS)
    .where("is_default", "=", true)
    .executeTakeFirstOrThrow();
  return { pool: toPool(existing), created: false };
}
