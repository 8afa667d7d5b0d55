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
    /** PEM (SPKI); the service always sets it, null only for legacy rows. */
    publicKey?: string | null;
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
      public_key: pool.publicKey ?? null,
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

/** Keeps the pool's token, encrypted, for `WorkerPool.config` (migration 0013). */
export async function storeWorkerPoolToken(
  db: Database,
  id: string,
  tokenEncrypted: string,
): Promise<void> {
  await db
    .updateTable("worker_pools")
    .set({ token_encrypted: tokenEncrypted })
    .where("id", "=", id)
    .execute();
}

export async function findWorkerPoolTokenEncrypted(
  db: Database,
  id: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("worker_pools")
    .select("token_encrypted")
    .where("id", "=", id)
    .executeTakeFirst();
  return row?.token_encrypted ?? null;
}

/**
 * Replaces the pool's credential hash and, when given, its public key (PEM, SPKI).
 * False when the pool does not exist.
 */
export async function updateWorkerPoolTokenHash(
  db: Database,
  id: string,
  tokenHash: string,
  publicKey?: string,
): Promise<boolean> {
  const res = await db
    .updateTable("worker_pools")
    .set({
      token_hash: tokenHash,
      ...(publicKey !== undefined ? { public_key: publicKey } : {}),
    })
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
  candidate: { id: string; tokenHash: string; publicKey?: string | null },
): Promise<{ pool: WorkerPool; created: boolean }> {
  const inserted = await db
    .insertInto("worker_pools")
    .values({
      id: candidate.id,
      name: "default",
      description: "Workers started without a dedicated pool.",
      space_id: "root",
      token_hash: candidate.tokenHash,
      public_key: candidate.publicKey ?? null,
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

export async function listWorkerPools(
  db: Database,
  spaces: readonly string[] | "all",
): Promise<WorkerPool[]> {
  if (spaces !== "all" && spaces.length === 0) return [];
  let q = db.selectFrom("worker_pools").select(POOL_COLUMNS);
  if (spaces !== "all") q = q.where("space_id", "in", [...spaces]);
  const rows = await q.orderBy("name").orderBy("id").execute();
  return rows.map(toPool);
}

export async function updateWorkerPool(
  db: Database,
  id: string,
  patch: {
    name: string;
    description: string;
    labels: string[];
    spaceId: string;
  },
): Promise<WorkerPool | null> {
  const row = await db
    .updateTable("worker_pools")
    .set({
      name: patch.name,
      description: patch.description,
      labels: patch.labels,
      space_id: patch.spaceId,
    })
    .where("id", "=", id)
    .returning(POOL_COLUMNS)
    .executeTakeFirst();
  return row ? toPool(row) : null;
}

/** Stacks (ids, at most 10) that name the pool; a pool in use is not deleted. */
export async function stacksUsingPool(
  db: Database,
  id: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom("stacks")
    .select("id")
    .where("worker_pool_id", "=", id)
    .orderBy("id")
    .limit(10)
    .execute();
  return rows.map((r) => r.id);
}

/** Deletes the pool and (by cascade) its workers; false when it did not exist. */
export async function deleteWorkerPool(
  db: Database,
  id: string,
): Promise<WorkerPool | null> {
  const row = await db
    .deleteFrom("worker_pools")
    .where("id", "=", id)
    .returning(POOL_COLUMNS)
    .executeTakeFirst();
  return row ? toPool(row) : null;
}
