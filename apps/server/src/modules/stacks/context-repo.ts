import { sql, type Selectable } from "kysely";
import type { ContextsTable, Database } from "../../platform/db/index.ts";
import {
  normalizeHooks,
  type Context,
  type ContextAttachment,
} from "./stack.ts";
import type { ContextSettings } from "./stack-inputs.ts";
import { AUTOATTACH_PREFIX } from "./stack-environment.ts";

/** Kysely queries on `contexts` and `context_attachments`; this file is their only writer. */

function toContext(row: Selectable<ContextsTable>): Context {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    labels: row.labels,
    spaceId: row.space_id,
    hooks: normalizeHooks(row.hooks),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findContext(
  db: Database,
  id: string,
): Promise<Context | null> {
  const row = await db
    .selectFrom("contexts")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toContext(row) : null;
}

/** Every context, by name (the caller filters by space access). */
export async function listAllContexts(db: Database): Promise<Context[]> {
  const rows = await db
    .selectFrom("contexts")
    .selectAll()
    .orderBy("name")
    .orderBy("id")
    .execute();
  return rows.map(toContext);
}

export async function findContexts(
  db: Database,
  ids: readonly string[],
): Promise<Context[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom("contexts")
    .selectAll()
    .where("id", "in", [...ids])
    .execute();
  return rows.map(toContext);
}

export async function insertContextIfAbsent(
  db: Database,
  context: {
    id: string;
    settings: ContextSettings & { spaceId: string };
    now: Date;
  },
): Promise<Context | null> {
  const s = context.settings;
  const row = await db
    .insertInto("contexts")
    .values({
      id: context.id,
      name: s.name,
      description: s.description,
      labels: s.labels,
      space_id: s.spaceId,
      hooks: JSON.stringify(s.hooks),
      created_at: context.now,
      updated_at: context.now,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .returningAll()
    .executeTakeFirst();
  return row ? toContext(row) : null;
}

export async function updateContextRow(
  db: Database,
  id: string,
  s: ContextSettings & { spaceId: string },
  now: Date,
): Promise<Context | null> {
  const row = await db
    .updateTable("contexts")
    .set({
      name: s.name,
      description: s.description,
      labels: s.labels,
      space_id: s.spaceId,
      hooks: JSON.stringify(s.hooks),
      updated_at: now,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? toContext(row) : null;
}

export async function deleteContextRow(
  db: Database,
  id: string,
): Promise<boolean> {
  const res = await db
    .deleteFrom("contexts")
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Contexts in any of `spaceIds` carrying at least one `autoattach:` label: the
 * candidates for auto-attachment to a stack whose lineage is `spaceIds`.
 */
export async function findAutoattachCandidates(
  db: Database,
  spaceIds: readonly string[],
): Promise<Context[]> {
  if (spaceIds.length === 0) return [];
  const rows = await db
    .selectFrom("contexts")
    .selectAll()
    .where("space_id", "in", [...spaceIds])
    .where(
      sql<boolean>`exists (select 1 from unnest(labels) l where l like ${`${AUTOATTACH_PREFIX}%`})`,
    )
    .execute();
  return rows.map(toContext);
}

const attachmentQuery = (db: Database) =>
  db
    .selectFrom("context_attachments as a")
    .innerJoin("contexts as c", "c.id", "a.context_id")
    .innerJoin("stacks as s", "s.id", "a.stack_id")
    .select([
      "a.id",
      "a.context_id",
      "c.name as context_name",
      "a.stack_id",
      "s.name as stack_name",
      "a.priority",
    ]);

function toAttachment(row: {
  id: string;
  context_id: string;
  context_name: string;
  stack_id: string;
  stack_name: string;
  priority: number;
}): ContextAttachment {
  return {
    id: row.id,
    contextId: row.context_id,
    contextName: row.context_name,
    stackId: row.stack_id,
    stackName: row.stack_name,
    priority: row.priority,
    isAutoattached: false,
  };
}

/** Explicit attachments of a stack, by priority then context id. */
export async function attachmentsOfStack(
  db: Database,
  stackId: string,
): Promise<ContextAttachment[]> {
  const rows = await attachmentQuery(db)
    .where("a.stack_id", "=", stackId)
    .orderBy("a.priority")
    .orderBy("a.context_id")
    .execute();
  return rows.map(toAttachment);
}

export async function findAttachment(
  db: Database,
  id: string,
): Promise<ContextAttachment | null> {
  const row = await attachmentQuery(db)
    .where("a.id", "=", id)
    .executeTakeFirst();
  return row ? toAttachment(row) : null;
}

export async function findAttachmentOf(
  db: Database,
  contextId: string,
  stackId: string,
): Promise<ContextAttachment | null> {
  const row = await attachmentQuery(db)
    .where("a.context_id", "=", contextId)
    .where("a.stack_id", "=", stackId)
    .executeTakeFirst();
  return row ? toAttachment(row) : null;
}

/**
 * Attaches unless the pair is already attached; the unique (context_id, stack_id)
 * constraint makes "one attachment per pair" hold under concurrency. Returns false when
 * the pair was attached before.
 */
export async function insertAttachmentIfAbsent(
  db: Database,
  a: {
    id: string;
    contextId: string;
    stackId: string;
    priority: number;
    now: Date;
  },
): Promise<boolean> {
  const row = await db
    .insertInto("context_attachments")
    .values({
      id: a.id,
      context_id: a.contextId,
      stack_id: a.stackId,
      priority: a.priority,
      created_at: a.now,
    })
    .onConflict((oc) => oc.columns(["context_id", "stack_id"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  return row !== undefined;
}

export async function deleteAttachmentRow(
  db: Database,
  id: string,
): Promise<boolean> {
  const res = await db
    .deleteFrom("context_attachments")
    .where("id", "=", id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
