import { sql, type RawBuilder } from "kysely";
import type { Database } from "../../platform/db/index.ts";
import type { StackView } from "./stack.ts";
import { toStack } from "./stack-repo.ts";
import {
  encodeCursor,
  type BooleanField,
  type StackFilter,
  type StackSearch,
  type StringField,
} from "./stack-search.ts";

/**
 * Read-only queries behind stack screens and the GraphQL `Stack` type. They join other
 * modules' tables, read-only (docs: "reads for list screens may join other modules'
 * tables inside a dedicated query file"):
 * - `runs` / `run_transitions`: the stack state is the state of its latest TRACKED run
 *   (runs that were CANCELED or SKIPPED never touched the stack and are passed over),
 *   NONE before the first; `stateSetAt` is that run's latest transition.
 * - `worker_pools`: the pool's id and name.
 */

// Run states the StackState enum lacks, mapped onto the nearest one it has.
const STATE_EXPR = sql<string>`case tr.state
  when 'READY' then 'QUEUED' when 'PENDING' then 'QUEUED' when 'PENDING_REVIEW' then 'PLANNING'
  else coalesce(tr.state, 'NONE') end`;

function stackViewQuery(db: Database) {
  return db
    .selectFrom("stacks as s")
    .innerJoin("spaces as sp", "sp.id", "s.space_id")
    .leftJoin("worker_pools as wp", "wp.id", "s.worker_pool_id")
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom("runs as r")
          .select([
            "r.state",
            sql<Date>`coalesce((select t.created_at from run_transitions t
              where t.run_id = r.id order by t.state_version desc limit 1), r.updated_at)`.as(
              "set_at",
            ),
          ])
          .whereRef("r.stack_id", "=", "s.id")
          .where("r.type", "=", "TRACKED")
          .where("r.state", "not in", ["CANCELED", "SKIPPED"])
          .orderBy("r.created_at", "desc")
          .orderBy("r.id", "desc")
          .limit(1)
          .as("tr"),
      (join) => join.onTrue(),
    )
    .selectAll("s")
    .select([
      "sp.name as space_name",
      "sp.description as space_description",
      "sp.parent_space_id as space_parent_id",
      "sp.inherit_entities as space_inherit_entities",
      "sp.labels as space_labels",
      "sp.created_at as space_created_at",
      "wp.name as wp_name",
      "wp.description as wp_description",
      "wp.labels as wp_labels",
      "wp.space_id as wp_space_id",
      sql<string>`lower(s.name)`.as("sort_name"),
      STATE_EXPR.as("tracked_state"),
      "tr.set_at as tracked_state_set_at",
    ]);
}

type StackViewRow = Awaited<
  ReturnType<ReturnType<typeof stackViewQuery>["executeTakeFirstOrThrow"]>
>;

function toStackView(row: StackViewRow): StackView {
  return {
    ...toStack(row),
    space: {
      id: row.space_id,
      name: row.space_name,
      description: row.space_description,
      parentSpaceId: row.space_parent_id,
      inheritEntities: row.space_inherit_entities,
      labels: row.space_labels,
      createdAt: row.space_created_at,
    },
    workerPool:
      row.worker_pool_id && row.wp_name !== null
        ? {
            id: row.worker_pool_id,
            name: row.wp_name,
            description: row.wp_description ?? "",
            labels: row.wp_labels ?? [],
            spaceId: row.wp_space_id ?? "root",
          }
        : null,
    state: row.tracked_state,
    stateSetAt: row.tracked_state_set_at ?? null,
  };
}

export async function findStackView(
  db: Database,
  id: string,
): Promise<StackView | null> {
  const row = await stackViewQuery(db)
    .where("s.id", "=", id)
    .executeTakeFirst();
  return row ? toStackView(row) : null;
}

/** All stacks in `spaces` ("all": every stack), by name. */
export async function listStackViews(
  db: Database,
  spaces: readonly string[] | "all",
): Promise<StackView[]> {
  if (spaces !== "all" && spaces.length === 0) return [];
  let q = stackViewQuery(db);
  if (spaces !== "all") q = q.where("s.space_id", "in", [...spaces]);
  const rows = await q
    .orderBy(sql`lower(s.name)`)
    .orderBy("s.id")
    .execute();
  return rows.map(toStackView);
}

const STRING_COLUMNS: Record<StringField, RawBuilder<unknown>> = {
  id: sql`s.id`,
  name: sql`s.name`,
  repository: sql`s.repository`,
  branch: sql`s.branch`,
  projectRoot: sql`s.project_root`,
  space: sql`s.space_id`,
  namespace: sql`s.namespace`,
  provider: sql`s.provider`,
  workerPool: sql`s.worker_pool_id`,
  workflowTool: sql`s.workflow_tool`,
  state: STATE_EXPR,
};

const BOOLEAN_COLUMNS: Record<BooleanField, RawBuilder<unknown>> = {
  administrative: sql`s.administrative`,
  autodeploy: sql`s.autodeploy`,
  autoretry: sql`s.autoretry`,
  isDisabled: sql`s.is_disabled`,
  locked: sql`(s.locked_by is not null)`,
  localPreviewEnabled: sql`s.local_preview_enabled`,
  protectFromDeletion: sql`s.protect_from_deletion`,
  starred: sql`false`,
};

function filterCondition(f: StackFilter): RawBuilder<boolean> {
  let cond: RawBuilder<unknown>;
  if (f.values.length === 0) {
    cond = sql`false`;
  } else if (f.kind === "labels") {
    cond = sql`s.labels && cast(${f.values} as text[])`;
  } else if (f.kind === "string") {
    cond = sql`${STRING_COLUMNS[f.field]} in (${sql.join(f.values)})`;
  } else {
    cond = sql`${BOOLEAN_COLUMNS[f.field]} in (${sql.join(f.values)})`;
  }
  // A NULL column (e.g. no worker pool) neither matches nor escapes an exclusion.
  return f.exclude
    ? sql<boolean>`not coalesce(${cond}, false)`
    : sql<boolean>`coalesce(${cond}, false)`;
}

function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * One page of a stack search. Keyset pagination on (lower(name), id), which the
 * `stacks_name` index serves in order, so a page costs O(page size) index entries plus
 * one lateral run lookup per row, whatever the offset.
 */
export function searchStacksQuery(
  db: Database,
  search: StackSearch,
  spaces: readonly string[] | "all",
) {
  let q = stackViewQuery(db);
  if (spaces !== "all") q = q.where("s.space_id", "in", [...spaces]);
  if (search.after) {
    q = q.where(
      sql<boolean>`(lower(s.name), s.id) > (${search.after.name}, ${search.after.id})`,
    );
  }
  if (search.text) {
    const p = likePattern(search.text);
    q = q.where(
      sql<boolean>`(s.name ilike ${p} or s.id ilike ${p} or s.description ilike ${p})`,
    );
  }
  for (const f of search.filters) q = q.where(filterCondition(f));
  return q
    .orderBy(sql`lower(s.name)`)
    .orderBy("s.id")
    .limit(search.first + 1);
}

export async function searchStackViews(
  db: Database,
  search: StackSearch,
  spaces: readonly string[] | "all",
): Promise<{
  edges: Array<{ cursor: string; stack: StackView }>;
  hasNextPage: boolean;
}> {
  if (spaces !== "all" && spaces.length === 0)
    return { edges: [], hasNextPage: false };
  const rows = await searchStacksQuery(db, search, spaces).execute();
  return {
    edges: rows.slice(0, search.first).map((row) => ({
      cursor: encodeCursor({ name: row.sort_name, id: row.id }),
      stack: toStackView(row),
    })),
    hasNextPage: rows.length > search.first,
  };
}

/** Largest number of folders `listStackFolders` returns. */
export const MAX_STACK_FOLDERS = 1000;

/**
 * The folders among the stacks in `spaces`: labels `folder:<path>`, without the prefix,
 * distinct and sorted, at most MAX_STACK_FOLDERS. One pass over the visible stacks'
 * labels, so a list of 10,000 stacks offers every folder without loading a page of it.
 */
export async function listStackFolders(
  db: Database,
  spaces: readonly string[] | "all",
): Promise<string[]> {
  if (spaces !== "all" && spaces.length === 0) return [];
  let q = db
    .selectFrom(
      sql<{
        label: string;
        space_id: string;
      }>`(select unnest(labels) as label, space_id from stacks)`.as("l"),
    )
    .select(sql<string>`substr(l.label, 8)`.as("folder"))
    .distinct()
    .where(sql<boolean>`l.label like 'folder:_%'`);
  if (spaces !== "all") q = q.where("l.space_id", "in", [...spaces]);
  const rows = await q.orderBy("folder").limit(MAX_STACK_FOLDERS).execute();
  return rows.map((r) => r.folder);
}

/** The space of a worker pool (read of the workers module's table); null when absent. */
export async function workerPoolSpace(
  db: Database,
  id: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("worker_pools")
    .select("space_id")
    .where("id", "=", id)
    .executeTakeFirst();
  return row?.space_id ?? null;
}

/** Ids in `table` that are `slug` or `slug-<n>`: the ones a new slug must avoid. */
export async function slugsInUse(
  db: Database,
  table: "stacks" | "contexts",
  slug: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom(table)
    .select("id")
    .where((eb) =>
      eb.or([eb("id", "=", slug), eb("id", "~", `^${slug}-[0-9]+$`)]),
    )
    .execute();
  return rows.map((r) => r.id);
}
