import { sql, type Selectable } from "kysely";
import type { Database, PoliciesTable } from "../../platform/db/index.ts";
import { stringifyExact } from "@stackyard/protocol";
import type { EngineType, Policy, PolicyType } from "./policy.ts";

/**
 * The only writer of `policies`, `policy_attachments`, `policy_samples`,
 * `run_policy_flags`, `run_policy_receipts` and `policy_notifications`. Reads of other
 * modules' tables (spaces, stacks, runs, worker pools, context attachments) are
 * read-only and confined to the functions below that say so.
 */

function toPolicy(row: Selectable<PoliciesTable>): Policy {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    type: row.type as PolicyType,
    body: row.body,
    labels: row.labels,
    spaceId: row.space_id,
    engineType: row.engine_type,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function insertPolicy(
  db: Database,
  p: Omit<Policy, "createdAt" | "updatedAt">,
  now: Date,
): Promise<Policy> {
  const row = await db
    .insertInto("policies")
    .values({
      id: p.id,
      name: p.name,
      description: p.description,
      type: p.type,
      body: p.body,
      labels: p.labels,
      space_id: p.spaceId,
      engine_type: p.engineType,
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toPolicy(row);
}

export async function updatePolicy(
  db: Database,
  id: string,
  p: {
    name: string;
    description: string;
    body: string;
    labels: string[];
    spaceId: string;
    engineType: EngineType;
  },
  now: Date,
): Promise<Policy | null> {
  const row = await db
    .updateTable("policies")
    .set({
      name: p.name,
      description: p.description,
      body: p.body,
      labels: p.labels,
      space_id: p.spaceId,
      engine_type: p.engineType,
      updated_at: now,
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  return row ? toPolicy(row) : null;
}

export async function deletePolicy(db: Database, id: string): Promise<void> {
  await db.deleteFrom("policies").where("id", "=", id).execute();
}

export async function findPolicy(
  db: Database,
  id: string,
): Promise<Policy | null> {
  const row = await db
    .selectFrom("policies")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toPolicy(row) : null;
}

export async function policyIdsLike(
  db: Database,
  slug: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom("policies")
    .select("id")
    .where((eb) => eb.or([eb("id", "=", slug), eb("id", "like", `${slug}-%`)]))
    .execute();
  return rows.map((r) => r.id);
}

/** Policies in `spaces` ("all": every space), by lower(name) then id, after the cursor. */
export async function listPolicies(
  db: Database,
  opts: {
    spaces: readonly string[] | "all";
    types?: readonly PolicyType[];
    text?: string | null;
    after?: { name: string; id: string } | null;
    limit: number;
  },
): Promise<Policy[]> {
  if (opts.spaces !== "all" && opts.spaces.length === 0) return [];
  let q = db.selectFrom("policies").selectAll();
  if (opts.spaces !== "all") q = q.where("space_id", "in", [...opts.spaces]);
  if (opts.types?.length) q = q.where("type", "in", [...opts.types]);
  if (opts.text)
    q = q.where((eb) =>
      eb.or([
        eb("name", "ilike", `%${opts.text}%`),
        eb("id", "ilike", `%${opts.text}%`),
      ]),
    );
  if (opts.after) {
    const { name, id } = opts.after;
    q = q.where(
      sql<boolean>`(lower(name), id) > (${name.toLowerCase()}, ${id})`,
    );
  }
  const rows = await q
    .orderBy(sql`lower(name)`)
    .orderBy("id")
    .limit(opts.limit)
    .execute();
  return rows.map(toPolicy);
}

export async function policiesOfType(
  db: Database,
  type: PolicyType,
): Promise<Policy[]> {
  const rows = await db
    .selectFrom("policies")
    .selectAll()
    .where("type", "=", type)
    .orderBy("id")
    .execute();
  return rows.map(toPolicy);
}

export async function countPoliciesOfType(
  db: Database,
  type: PolicyType,
): Promise<number> {
  const row = await db
    .selectFrom("policies")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("type", "=", type)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Policies with an `autoattach:` label in one of `spaces`. */
export async function autoattachCandidates(
  db: Database,
  spaces: readonly string[],
): Promise<Policy[]> {
  if (spaces.length === 0) return [];
  const rows = await db
    .selectFrom("policies")
    .selectAll()
    .where("space_id", "in", [...spaces])
    .where(
      sql<boolean>`exists (select 1 from unnest(labels) l where l like 'autoattach:%')`,
    )
    .orderBy("id")
    .execute();
  return rows.map(toPolicy);
}

export interface AttachmentRow {
  id: string;
  policyId: string;
  stackId: string;
}

export async function insertAttachment(
  db: Database,
  a: AttachmentRow,
  now: Date,
): Promise<AttachmentRow> {
  await db
    .insertInto("policy_attachments")
    .values({
      id: a.id,
      policy_id: a.policyId,
      stack_id: a.stackId,
      created_at: now,
    })
    .execute();
  return a;
}

export async function findAttachment(
  db: Database,
  where: { id: string } | { policyId: string; stackId: string },
): Promise<AttachmentRow | null> {
  let q = db.selectFrom("policy_attachments").selectAll();
  q =
    "id" in where
      ? q.where("id", "=", where.id)
      : q
          .where("policy_id", "=", where.policyId)
          .where("stack_id", "=", where.stackId);
  const row = await q.executeTakeFirst();
  return row
    ? { id: row.id, policyId: row.policy_id, stackId: row.stack_id }
    : null;
}

export async function deleteAttachment(db: Database, id: string) {
  await db.deleteFrom("policy_attachments").where("id", "=", id).execute();
}

/** Explicit attachments of a stack, with their policies. */
export async function attachedToStack(
  db: Database,
  stackId: string,
): Promise<Array<{ attachmentId: string; policy: Policy }>> {
  const rows = await db
    .selectFrom("policy_attachments as a")
    .innerJoin("policies as p", "p.id", "a.policy_id")
    .selectAll("p")
    .select("a.id as attachment_id")
    .where("a.stack_id", "=", stackId)
    .orderBy("p.id")
    .execute();
  return rows.map((r) => ({
    attachmentId: r.attachment_id,
    policy: toPolicy(r),
  }));
}

export async function insertSample(
  db: Database,
  s: { policyId: string; key: string; outcome: string; at: Date },
): Promise<void> {
  await db
    .insertInto("policy_samples")
    .values({
      policy_id: s.policyId,
      key: s.key,
      outcome: s.outcome,
      created_at: s.at,
    })
    .onConflict((oc) => oc.columns(["policy_id", "key"]).doNothing())
    .execute();
}

export interface SampleRow {
  policyId: string;
  key: string;
  outcome: string;
  createdAt: Date;
}

export async function listSamples(
  db: Database,
  policyId: string,
  opts: {
    since: Date;
    limit: number;
    outcomes?: readonly string[] | null;
    before?: { at: Date; key: string } | null;
  },
): Promise<SampleRow[]> {
  let q = db
    .selectFrom("policy_samples")
    .selectAll()
    .where("policy_id", "=", policyId)
    .where("created_at", ">=", opts.since);
  if (opts.outcomes?.length) q = q.where("outcome", "in", [...opts.outcomes]);
  if (opts.before) {
    const { at, key } = opts.before;
    q = q.where(sql<boolean>`(created_at, key) < (${at}, ${key})`);
  }
  const rows = await q
    .orderBy("created_at", "desc")
    .orderBy("key", "desc")
    .limit(opts.limit)
    .execute();
  return rows.map((r) => ({
    policyId: r.policy_id,
    key: r.key,
    outcome: r.outcome,
    createdAt: r.created_at,
  }));
}

export async function findSample(
  db: Database,
  policyId: string,
  key: string,
): Promise<SampleRow | null> {
  const r = await db
    .selectFrom("policy_samples")
    .selectAll()
    .where("policy_id", "=", policyId)
    .where("key", "=", key)
    .executeTakeFirst();
  return r
    ? {
        policyId: r.policy_id,
        key: r.key,
        outcome: r.outcome,
        createdAt: r.created_at,
      }
    : null;
}

/**
 * Deletes the index rows of `policyId` beyond the newest `keep` or older than `before`
 * and returns their keys (the caller deletes the objects).
 */
export async function trimSamples(
  db: Database,
  policyId: string,
  keep: number,
  before: Date,
): Promise<string[]> {
  const { rows } = await sql<{ key: string }>`
    delete from policy_samples
     where policy_id = ${policyId}
       and (created_at < ${before}
            or key not in (select key from policy_samples
                            where policy_id = ${policyId}
                            order by created_at desc, key desc
                            limit ${keep}))
    returning key`.execute(db);
  return rows.map((r) => r.key);
}

/** Policies that have samples older than `before` (the expiry job's work list). */
export async function policiesWithSamplesBefore(
  db: Database,
  before: Date,
): Promise<string[]> {
  const rows = await db
    .selectFrom("policy_samples")
    .select("policy_id")
    .distinct()
    .where("created_at", "<", before)
    .execute();
  return rows.map((r) => r.policy_id);
}

export async function runFlags(db: Database, runId: string): Promise<string[]> {
  const row = await db
    .selectFrom("run_policy_flags")
    .select("flags")
    .where("run_id", "=", runId)
    .executeTakeFirst();
  return row?.flags ?? [];
}

export async function setRunFlags(
  db: Database,
  runId: string,
  flags: string[],
  now: Date,
): Promise<void> {
  await db
    .insertInto("run_policy_flags")
    .values({ run_id: runId, flags, updated_at: now })
    .onConflict((oc) =>
      oc.column("run_id").doUpdateSet({ flags, updated_at: now }),
    )
    .execute();
}

export interface NotificationRow {
  id: string;
  policyId: string | null;
  runId: string | null;
  stateVersion: number | null;
  kind: "inbox" | "slack" | "webhook" | "pull_request";
  payload: unknown;
}

/**
 * Replaces the stored decisions of one run state change (idempotent when the evaluation
 * is retried): the rows of (runId, stateVersion) are deleted and `rows` inserted.
 */
export async function replaceNotifications(
  db: Database,
  runId: string,
  stateVersion: number,
  rows: NotificationRow[],
  now: Date,
): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .deleteFrom("policy_notifications")
      .where("run_id", "=", runId)
      .where("state_version", "=", stateVersion)
      .execute();
    if (rows.length === 0) return;
    await tx
      .insertInto("policy_notifications")
      .values(
        rows.map((r) => ({
          id: r.id,
          policy_id: r.policyId,
          run_id: r.runId,
          state_version: r.stateVersion,
          kind: r.kind,
          payload: stringifyExact(r.payload),
          created_at: now,
        })),
      )
      .execute();
  });
}

export async function notificationsOfRun(
  db: Database,
  runId: string,
): Promise<NotificationRow[]> {
  const rows = await db
    .selectFrom("policy_notifications")
    .selectAll()
    .where("run_id", "=", runId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    policyId: r.policy_id,
    runId: r.run_id,
    stateVersion: r.state_version,
    kind: r.kind,
    payload: r.payload,
  }));
}

// Read-only facts of other modules' tables for input documents (spaces, runs).

export async function spaceFacts(
  db: Database,
  spaceId: string,
): Promise<{ id: string; name: string; labels: string[] } | null> {
  const row = await db
    .selectFrom("spaces")
    .select(["id", "name", "labels"])
    .where("id", "=", spaceId)
    .executeTakeFirst();
  return row ? { id: row.id, name: row.name, labels: row.labels } : null;
}

export async function allSpaces(
  db: Database,
): Promise<Array<{ id: string; name: string; labels: string[] }>> {
  const rows = await db
    .selectFrom("spaces")
    .select(["id", "name", "labels"])
    .orderBy("id")
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, labels: r.labels }));
}

/** Every space's parent (null for root), for space subtrees (trigger policy scope). */
export async function spaceParents(
  db: Database,
): Promise<Map<string, string | null>> {
  const rows = await db
    .selectFrom("spaces")
    .select(["id", "parent_space_id"])
    .execute();
  return new Map(rows.map((r) => [r.id, r.parent_space_id]));
}

/** The stack's newest run of the same type created before `runId`, as an input `previous_run`. */
export async function previousRunOf(
  db: Database,
  run: { id: string; stackId: string; type: string; createdAt: Date },
) {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("stack_id", "=", run.stackId)
    .where("type", "=", run.type as "TRACKED")
    .where("id", "!=", run.id)
    .where("created_at", "<=", run.createdAt)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    stackId: row.stack_id,
    type: row.type,
    state: row.state,
    commitSha: row.commit_sha,
    commitMessage: row.commit_message,
    commitAuthor: row.commit_author,
    commitAt: row.commit_at,
    branch: row.branch,
    command: row.command,
    triggeredBy: row.triggered_by,
    driftDetection: row.drift_detection,
    runtimeConfig: row.runtime_config,
    userMetadata: row.user_metadata,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The run's transitions, oldest first (`states_history`, `timing`, review state
 * versions); with `upTo`, only those up to that state version (a notification for an
 * older state change sees the history as it was then).
 */
export async function runHistory(
  db: Database,
  runId: string,
  upTo?: number,
): Promise<Array<{ state: string; stateVersion: number; createdAt: Date }>> {
  let q = db
    .selectFrom("run_transitions")
    .select(["state", "state_version", "created_at"])
    .where("run_id", "=", runId);
  if (upTo !== undefined) q = q.where("state_version", "<=", upTo);
  const rows = await q.orderBy("state_version").execute();
  return rows.map((r) => ({
    state: r.state,
    stateVersion: r.state_version,
    createdAt: r.created_at,
  }));
}

export interface StackFactsRow {
  space: { id: string; name: string; labels: string[] } | null;
  state: string;
  workerPool: { id: string; name: string; labels: string[] } | null;
  contexts: string[];
}

/**
 * What stack inputs need beyond the Stack (read-only: `stacks`, `spaces`, `runs`,
 * `worker_pools`, `context_attachments`): the state is the stack state as the stacks
 * module computes it (latest TRACKED run not CANCELED/SKIPPED, NONE before the first).
 */
export async function stackFacts(
  db: Database,
  stackIds: readonly string[],
): Promise<Map<string, StackFactsRow>> {
  const out = new Map<string, StackFactsRow>();
  if (stackIds.length === 0) return out;
  const { rows } = await sql<{
    id: string;
    space_id: string;
    space_name: string | null;
    space_labels: string[] | null;
    pool_id: string | null;
    pool_name: string | null;
    pool_labels: string[] | null;
    state: string | null;
    contexts: string[] | null;
  }>`
    select s.id, s.space_id, sp.name as space_name, sp.labels as space_labels,
           wp.id as pool_id, wp.name as pool_name, wp.labels as pool_labels,
           (select r.state from runs r
             where r.stack_id = s.id and r.type = 'TRACKED'
               and r.state not in ('CANCELED', 'SKIPPED')
             order by r.created_at desc, r.id desc limit 1) as state,
           (select array_agg(ca.context_id order by ca.priority, ca.context_id)
              from context_attachments ca where ca.stack_id = s.id) as contexts
      from stacks s
      left join spaces sp on sp.id = s.space_id
      left join worker_pools wp on wp.id = s.worker_pool_id
     where s.id = any(${[...stackIds]})`.execute(db);
  for (const r of rows)
    out.set(r.id, {
      space:
        r.space_name === null
          ? null
          : {
              id: r.space_id,
              name: r.space_name,
              labels: r.space_labels ?? [],
            },
      state: r.state ?? "NONE",
      workerPool: r.pool_id
        ? {
            id: r.pool_id,
            name: r.pool_name ?? r.pool_id,
            labels: r.pool_labels ?? [],
          }
        : null,
      contexts: r.contexts ?? [],
    });
  return out;
}

/**
 * The trigger chain `runId` belongs to (`workflow[]` of trigger inputs): walk
 * `policy_triggered_runs` up to the first run, then down to every run started from it,
 * oldest first. Bounded depth (64) so a malformed chain cannot loop.
 */
export async function workflowOf(
  db: Database,
  runId: string,
): Promise<
  Array<{ id: string; stackId: string; state: string; type: string }>
> {
  const { rows } = await sql<{
    id: string;
    stack_id: string;
    state: string;
    type: string;
  }>`
    with recursive up(id, depth) as (
      select ${runId}::text, 0
      union all
      select t.source_run_id, up.depth + 1
        from policy_triggered_runs t join up on t.run_id = up.id
       where up.depth < 64
    ),
    root as (select id from up order by depth desc limit 1),
    down(id, depth) as (
      select id, 0 from root
      union all
      select t.run_id, down.depth + 1
        from policy_triggered_runs t join down on t.source_run_id = down.id
       where down.depth < 64
    )
    select r.id, r.stack_id, r.state, r.type
      from runs r where r.id in (select id from down)
     order by r.created_at, r.id`.execute(db);
  return rows.map((r) => ({
    id: r.id,
    stackId: r.stack_id,
    state: r.state,
    type: r.type,
  }));
}

/** Appends the receipts of one evaluation of a run (`policy_receipts`), one timestamp. */
export async function insertRunReceipts(
  db: Database,
  runId: string,
  receipts: ReadonlyArray<{
    policyId: string;
    policyName: string;
    type: string;
    outcome: string;
    flags: string[];
    deny: string[];
    warn: string[];
  }>,
  now: Date,
): Promise<void> {
  if (receipts.length === 0) return;
  await db
    .insertInto("run_policy_receipts")
    .values(
      receipts.map((r) => ({
        run_id: runId,
        policy_id: r.policyId,
        policy_name: r.policyName,
        type: r.type,
        outcome: r.outcome,
        flags: r.flags,
        deny: r.deny,
        warn: r.warn,
        created_at: now,
      })),
    )
    .execute();
}

/** The run's policy receipts in evaluation order. */
export async function runReceipts(
  db: Database,
  runId: string,
): Promise<
  Array<{
    name: string;
    type: string;
    outcome: string;
    flags: string[];
    deny: string[];
    warn: string[];
    createdAt: Date;
  }>
> {
  const rows = await db
    .selectFrom("run_policy_receipts")
    .select([
      "policy_name",
      "type",
      "outcome",
      "flags",
      "deny",
      "warn",
      "created_at",
    ])
    .where("run_id", "=", runId)
    .orderBy("id")
    .execute();
  return rows.map((r) => ({
    name: r.policy_name,
    type: r.type,
    outcome: r.outcome,
    flags: r.flags,
    deny: r.deny,
    warn: r.warn,
    createdAt: r.created_at,
  }));
}

/** QUEUED runs per stack (`stacks[].queued_runs` of trigger inputs). */
export async function queuedRunsByStack(
  db: Database,
): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom("runs")
    .select(["stack_id"])
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("state", "=", "QUEUED")
    .groupBy("stack_id")
    .execute();
  return new Map(rows.map((r) => [r.stack_id, Number(r.n)]));
}

export async function allStackIds(db: Database): Promise<string[]> {
  const rows = await db
    .selectFrom("stacks")
    .select("id")
    .orderBy("id")
    .execute();
  return rows.map((r) => r.id);
}

/** The run as input documents need it, plus its blocking flag and creator. */
export async function runFacts(db: Database, runId: string) {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("id", "=", runId)
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    stackId: row.stack_id,
    type: row.type,
    state: row.state,
    blocking: row.blocking,
    commitSha: row.commit_sha,
    commitMessage: row.commit_message,
    commitAuthor: row.commit_author,
    commitAt: row.commit_at,
    branch: row.branch,
    command: row.command,
    triggeredBy: row.triggered_by,
    driftDetection: row.drift_detection,
    runtimeConfig: row.runtime_config,
    userMetadata: row.user_metadata,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function transitionOf(
  db: Database,
  runId: string,
  stateVersion: number,
): Promise<{ actor: string | null; note: string | null } | null> {
  const row = await db
    .selectFrom("run_transitions")
    .select(["actor", "note"])
    .where("run_id", "=", runId)
    .where("state_version", "=", stateVersion)
    .executeTakeFirst();
  return row ?? null;
}

/**
 * Records that a trigger policy started `runId` on `stackId` after `sourceRunId` ended,
 * in the new run's transaction; false when it was recorded before (a retried job).
 */
export async function recordTriggeredRun(
  db: Database,
  r: { sourceRunId: string; stackId: string; runId: string },
): Promise<boolean> {
  const res = await db
    .insertInto("policy_triggered_runs")
    .values({
      source_run_id: r.sourceRunId,
      stack_id: r.stackId,
      run_id: r.runId,
    })
    .onConflict((oc) => oc.columns(["source_run_id", "stack_id"]).doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function triggeredRunsOf(
  db: Database,
  sourceRunId: string,
): Promise<Array<{ stackId: string; runId: string }>> {
  const rows = await db
    .selectFrom("policy_triggered_runs")
    .select(["stack_id", "run_id"])
    .where("source_run_id", "=", sourceRunId)
    .orderBy("stack_id")
    .execute();
  return rows.map((r) => ({ stackId: r.stack_id, runId: r.run_id }));
}

/** One decision outside a state change's set (a trigger policy's problem report). */
export async function insertNotification(
  db: Database,
  r: NotificationRow,
): Promise<void> {
  await db
    .insertInto("policy_notifications")
    .values({
      id: r.id,
      policy_id: r.policyId,
      run_id: r.runId,
      state_version: r.stateVersion,
      kind: r.kind,
      payload: stringifyExact(r.payload),
    })
    .execute();
}

/** Records a change to login policies (create, update, delete) by `subject`. */
export async function recordLoginPolicyChange(
  db: Database,
  subject: string,
  at: Date,
): Promise<void> {
  await db
    .insertInto("login_policy_changes")
    .values({ id: true, changed_at: at, changed_by: subject })
    .onConflict((oc) =>
      oc.column("id").doUpdateSet({ changed_at: at, changed_by: subject }),
    )
    .execute();
}

export async function lastLoginPolicyChange(
  db: Database,
): Promise<{ at: Date; by: string } | null> {
  const row = await db
    .selectFrom("login_policy_changes")
    .select(["changed_at", "changed_by"])
    .executeTakeFirst();
  return row ? { at: row.changed_at, by: row.changed_by } : null;
}
