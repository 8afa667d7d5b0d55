import type { Selectable } from "kysely";
import type { ConfigElementsTable, Database } from "../../platform/db/index.ts";

/**
 * Kysely queries on `config_elements`; this file is their only writer. Rows hold either
 * `value_plain` or (write-only) `value_encrypted`, never both (a table CHECK).
 */

export type ConfigOwner = { type: "stack" | "context"; id: string };
export type ConfigElementRow = Selectable<ConfigElementsTable>;

export async function listConfigRows(
  db: Database,
  owner: ConfigOwner,
): Promise<ConfigElementRow[]> {
  return db
    .selectFrom("config_elements")
    .selectAll()
    .where("owner_type", "=", owner.type)
    .where("owner_id", "=", owner.id)
    .orderBy("id")
    .execute();
}

export async function listConfigRowsOfContexts(
  db: Database,
  contextIds: readonly string[],
): Promise<ConfigElementRow[]> {
  if (contextIds.length === 0) return [];
  return db
    .selectFrom("config_elements")
    .selectAll()
    .where("owner_type", "=", "context")
    .where("owner_id", "in", [...contextIds])
    .orderBy("owner_id")
    .orderBy("id")
    .execute();
}

export async function findConfigRow(
  db: Database,
  owner: ConfigOwner,
  id: string,
): Promise<ConfigElementRow | null> {
  const row = await db
    .selectFrom("config_elements")
    .selectAll()
    .where("owner_type", "=", owner.type)
    .where("owner_id", "=", owner.id)
    .where("id", "=", id)
    .executeTakeFirst();
  return row ?? null;
}

/** Adds or replaces (same owner and id) an element: `setvar` on an existing name replaces it. */
export async function upsertConfigRow(
  db: Database,
  owner: ConfigOwner,
  el: {
    id: string;
    type: "ENVIRONMENT_VARIABLE" | "FILE_MOUNT";
    valuePlain: string | null;
    valueEncrypted: string | null;
    writeOnly: boolean;
    checksum: string;
    description: string;
    now: Date;
  },
): Promise<ConfigElementRow> {
  const values = {
    type: el.type,
    value_plain: el.valuePlain,
    value_encrypted: el.valueEncrypted,
    write_only: el.writeOnly,
    checksum: el.checksum,
    description: el.description,
    created_at: el.now,
  };
  return db
    .insertInto("config_elements")
    .values({
      owner_type: owner.type,
      owner_id: owner.id,
      id: el.id,
      ...values,
    })
    .onConflict((oc) =>
      oc.columns(["owner_type", "owner_id", "id"]).doUpdateSet(values),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteConfigRow(
  db: Database,
  owner: ConfigOwner,
  id: string,
): Promise<ConfigElementRow | null> {
  const row = await db
    .deleteFrom("config_elements")
    .where("owner_type", "=", owner.type)
    .where("owner_id", "=", owner.id)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** Deletes everything an owner had (it is being deleted; there is no FK to cascade). */
export async function deleteConfigRowsOf(
  db: Database,
  owner: ConfigOwner,
): Promise<void> {
  await db
    .deleteFrom("config_elements")
    .where("owner_type", "=", owner.type)
    .where("owner_id", "=", owner.id)
    .execute();
}
