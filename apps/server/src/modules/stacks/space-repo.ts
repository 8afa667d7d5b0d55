import { sql, type Selectable } from "kysely";
import type { Database, SpacesTable } from "../../platform/db/index.ts";
import type { Space } from "./stack.ts";

/** Kysely queries on `spaces`; this file is their only writer. */

function toSpace(row: Selectable<SpacesTable>): Space {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    parentSpaceId: row.parent_space_id,
    inheritEntities: row.inherit_entities,
    labels: row.labels,
    createdAt: row.created_at,
  };
}

export async function findSpace(
  db: Database,
  id: string,
): Promise<Space | null> {
  const row = await db
    .selectFrom("spaces")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toSpace(row) : null;
}

/** The space and its ancestors up to root, nearest first; [] when it doesn't exist. */
export async function spaceLineage(
  db: Database,
  id: string,
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    with recursive up(id, parent, depth) as (
      select id, parent_space_id, 0 from spaces where id = ${id}
      union all
      select s.id, s.parent_space_id, up.depth + 1 from spaces s join up on s.id = up.parent
    )
    select id from up order by depth`.execute(db);
  return rows.map((r) => r.id);
}

/**
 * The spaces whose worker pools, VCS integrations, contexts and policies a stack in
 * space `id` may use (spacelift-reference §1.8), nearest first: the space itself, then
 * its parent while the space below it inherits (`inherit_entities`), and so on up. []
 * when the space does not exist. A space that does not inherit uses only its own.
 */
export async function usableSpaceIds(
  db: Database,
  id: string,
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    with recursive up(id, parent, inherits, depth) as (
      select id, parent_space_id, inherit_entities, 0 from spaces where id = ${id}
      union all
      select s.id, s.parent_space_id, s.inherit_entities, up.depth + 1
        from spaces s join up on s.id = up.parent
        where up.inherits and up.depth < 64
    )
    select id from up order by depth`.execute(db);
  return rows.map((r) => r.id);
}

export async function insertSpace(
  db: Database,
  space: Omit<Space, "createdAt"> & { createdAt: Date },
): Promise<Space> {
  const row = await db
    .insertInto("spaces")
    .values({
      id: space.id,
      name: space.name,
      description: space.description,
      parent_space_id: space.parentSpaceId,
      inherit_entities: space.inheritEntities,
      labels: space.labels,
      created_at: space.createdAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSpace(row);
}

export async function updateSpaceRow(
  db: Database,
  id: string,
  fields: Pick<
    Space,
    "name" | "description" | "parentSpaceId" | "inheritEntities" | "labels"
  >,
): Promise<Space | null> {
  const row = await db
    .updateTable("spaces")
    .set({
      name: fields.name,
      description: fields.description,
      parent_space_id: fields.parentSpaceId,
      inherit_entities: fields.inheritEntities,
      labels: fields.labels,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? toSpace(row) : null;
}

export async function deleteSpaceRow(
  db: Database,
  id: string,
): Promise<boolean> {
  const res = await db
    .deleteFrom("spaces")
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** What still lives in a space (for a helpful refusal before deleting it). */
export async function spaceContents(
  db: Database,
  id: string,
): Promise<{ children: number; stacks: number; contexts: number }> {
  const row = await db
    .selectNoFrom((eb) => [
      eb
        .selectFrom("spaces")
        .select(eb.fn.countAll<string>().as("n"))
        .where("parent_space_id", "=", id)
        .as("children"),
      eb
        .selectFrom("stacks")
        .select(eb.fn.countAll<string>().as("n"))
        .where("space_id", "=", id)
        .as("stacks"),
      eb
        .selectFrom("contexts")
        .select(eb.fn.countAll<string>().as("n"))
        .where("space_id", "=", id)
        .as("contexts"),
    ])
    .executeTakeFirstOrThrow();
  return {
    children: Number(row.children),
    stacks: Number(row.stacks),
    contexts: Number(row.contexts),
  };
}

/**
 * Serialises changes to the shape of the space tree (create, move, delete) for the
 * rest of the transaction, so two concurrent moves cannot build a cycle between them.
 */
export async function lockSpaceTree(db: Database): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('stackyard.spaces.tree'))`.execute(
    db,
  );
}
