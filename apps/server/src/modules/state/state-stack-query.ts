import { sql, type Kysely } from "kysely";
import type { DB } from "../../platform/db/index.ts";
import { TERMINAL_STATES } from "../run-status/index.ts";

/**
 * Reads of the stacks and runs modules' tables that decide state access, kept in this one
 * file (STYLE §4.3: reads may cross modules in a dedicated query file, writes never do).
 * Each runs on the caller's transaction when given one.
 */

/** What decides whether runs of `readerStackId` may read `targetStackId`'s state. */
export interface ExternalReadFacts {
  target: { id: string; spaceId: string; externalStateAccess: boolean };
  /** The reader stack's space and its ancestors, nearest first. */
  readerSpaceLineage: string[];
}

export async function findExternalReadFacts(
  q: Kysely<DB>,
  targetStackId: string,
  readerStackId: string,
): Promise<ExternalReadFacts | undefined> {
  const target = await q
    .selectFrom("stacks")
    .select(["id", "space_id", "external_state_access"])
    .where("id", "=", targetStackId)
    .executeTakeFirst();
  const reader = await q
    .selectFrom("stacks")
    .select(["space_id"])
    .where("id", "=", readerStackId)
    .executeTakeFirst();
  if (!target || !reader) return undefined;
  const { rows } = await sql<{ id: string }>`
    with recursive up(id, parent, depth) as (
      select id, parent_space_id, 0 from spaces where id = ${reader.space_id}
      union all
      select s.id, s.parent_space_id, up.depth + 1 from spaces s join up on s.id = up.parent
    )
    select id from up order by depth`.execute(q);
  return {
    target: {
      id: target.id,
      spaceId: target.space_id,
      externalStateAccess: target.external_state_access,
    },
    readerSpaceLineage: rows.map((r) => r.id),
  };
}

/** The stack's space and whether users outside the platform may use its backend. */
export async function findStackAccessFacts(
  q: Kysely<DB>,
  stackId: string,
): Promise<{ spaceId: string; externalStateAccess: boolean } | undefined> {
  const row = await q
    .selectFrom("stacks")
    .select(["space_id", "external_state_access"])
    .where("id", "=", stackId)
    .executeTakeFirst();
  return (
    row && {
      spaceId: row.space_id,
      externalStateAccess: row.external_state_access,
    }
  );
}

/** Ids of the stack's runs that are not terminal (pending, queued or running), oldest first. */
export async function findPendingRunIds(
  q: Kysely<DB>,
  stackId: string,
): Promise<string[]> {
  const rows = await q
    .selectFrom("runs")
    .select("id")
    .where("stack_id", "=", stackId)
    .where("state", "not in", [...TERMINAL_STATES])
    .orderBy("created_at")
    .orderBy("id")
    .limit(20)
    .execute();
  return rows.map((r) => r.id);
}
