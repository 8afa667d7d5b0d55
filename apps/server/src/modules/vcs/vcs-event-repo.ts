import type { Database } from "../../platform/db/index.ts";
import { TERMINAL_STATES } from "../run-status/index.ts";

/**
 * The only writer of `vcs_deliveries`, `vcs_events`, `vcs_event_outcomes`,
 * `vcs_poll_cursors` and `vcs_run_links`. Functions take the handle they run on first
 * (a transaction or the plain handle).
 */

/** Records a delivery id; false when it was already recorded (a redelivery). */
export async function recordDelivery(
  db: Database,
  d: {
    integrationId: string;
    deliveryId: string;
    eventName: string;
    now: Date;
  },
): Promise<boolean> {
  const row = await db
    .insertInto("vcs_deliveries")
    .values({
      integration_id: d.integrationId,
      delivery_id: d.deliveryId,
      event_name: d.eventName,
      received_at: d.now,
    })
    .onConflict((oc) => oc.doNothing())
    .returning("delivery_id")
    .executeTakeFirst();
  return row !== undefined;
}

export interface NewVcsEvent {
  id: string;
  integrationId: string | null;
  source: "WEBHOOK" | "POLL";
  deliveryId: string | null;
  kind: string;
  repository: string;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  prNumber: number | null;
  note: string | null;
  now: Date;
}

/** Idempotent on the id (a redelivered job records its event once). */
export async function insertEvent(db: Database, e: NewVcsEvent): Promise<void> {
  await db
    .insertInto("vcs_events")
    .values({
      id: e.id,
      integration_id: e.integrationId,
      source: e.source,
      delivery_id: e.deliveryId,
      kind: e.kind,
      repository: e.repository,
      branch: e.branch,
      tag: e.tag,
      sha: e.sha,
      pr_number: e.prNumber,
      note: e.note,
      received_at: e.now,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .execute();
}

/**
 * TRACKED / PROPOSED: a run was created; IGNORED: nothing ran; NOTRIGGER: a push
 * policy's `notrigger` kept the run from being created; FAILED: a push policy's `fail`
 * refused it (the stack's commit status fails).
 */
export type Outcome =
  | "TRACKED"
  | "PROPOSED"
  | "IGNORED"
  | "NOTRIGGER"
  | "FAILED";

/** One outcome per (event, stack); a repeat (redelivered job) keeps the first. */
export async function recordOutcome(
  db: Database,
  o: {
    eventId: string;
    stackId: string;
    outcome: Outcome;
    runId: string | null;
    reason: string;
    /** The GIT_PUSH rules that fired (push policies only). */
    rules?: readonly string[];
    /** What acting on the side rules did, one sentence each. */
    actions?: readonly string[];
    now: Date;
  },
): Promise<void> {
  await db
    .insertInto("vcs_event_outcomes")
    .values({
      event_id: o.eventId,
      stack_id: o.stackId,
      outcome: o.outcome,
      run_id: o.runId,
      reason: o.reason,
      rules: [...(o.rules ?? [])],
      actions: [...(o.actions ?? [])],
      created_at: o.now,
    })
    .onConflict((oc) => oc.columns(["event_id", "stack_id"]).doNothing())
    .execute();
}

export interface StackVcsEvent {
  eventId: string;
  source: "WEBHOOK" | "POLL";
  kind: string;
  repository: string;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  prNumber: number | null;
  receivedAt: Date;
  outcome: Outcome;
  runId: string | null;
  reason: string;
  rules: string[];
  actions: string[];
}

/** A stack's recent VCS events and what each did to it, newest first. */
export async function listStackEvents(
  db: Database,
  stackId: string,
  limit: number,
): Promise<StackVcsEvent[]> {
  const rows = await db
    .selectFrom("vcs_event_outcomes as o")
    .innerJoin("vcs_events as e", "e.id", "o.event_id")
    .select([
      "e.id",
      "e.source",
      "e.kind",
      "e.repository",
      "e.branch",
      "e.tag",
      "e.sha",
      "e.pr_number",
      "e.received_at",
      "o.outcome",
      "o.run_id",
      "o.reason",
      "o.rules",
      "o.actions",
    ])
    .where("o.stack_id", "=", stackId)
    .orderBy("o.created_at", "desc")
    .orderBy("e.id", "desc")
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    eventId: r.id,
    source: r.source,
    kind: r.kind,
    repository: r.repository,
    branch: r.branch,
    tag: r.tag,
    sha: r.sha,
    prNumber: r.pr_number,
    receivedAt: r.received_at,
    outcome: r.outcome,
    runId: r.run_id,
    reason: r.reason,
    rules: r.rules,
    actions: r.actions,
  }));
}

/** Deletes events (with their outcomes) and deliveries older than `before`. */
export async function deleteEventsBefore(
  db: Database,
  before: Date,
): Promise<{ events: number; deliveries: number }> {
  const events = await db
    .deleteFrom("vcs_events")
    .where("received_at", "<", before)
    .executeTakeFirst();
  const deliveries = await db
    .deleteFrom("vcs_deliveries")
    .where("received_at", "<", before)
    .executeTakeFirst();
  return {
    events: Number(events.numDeletedRows),
    deliveries: Number(deliveries.numDeletedRows),
  };
}

// ---- poll cursors

export async function findCursors(
  db: Database,
  stackIds: readonly string[],
): Promise<Map<string, { repository: string; branch: string; sha: string }>> {
  if (stackIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("vcs_poll_cursors")
    .selectAll()
    .where("stack_id", "in", stackIds)
    .execute();
  return new Map(
    rows.map((r) => [
      r.stack_id,
      { repository: r.repository, branch: r.branch, sha: r.sha },
    ]),
  );
}

/**
 * Moves a stack's cursor to `sha` only if it is still at `expected` (null: no cursor
 * yet), so two overlapping polls advance it once; false when another poll got there.
 */
export async function advanceCursor(
  db: Database,
  c: {
    stackId: string;
    repository: string;
    branch: string;
    sha: string;
    expected: string | null;
    now: Date;
  },
): Promise<boolean> {
  if (c.expected === null) {
    const row = await db
      .insertInto("vcs_poll_cursors")
      .values({
        stack_id: c.stackId,
        repository: c.repository,
        branch: c.branch,
        sha: c.sha,
        updated_at: c.now,
      })
      .onConflict((oc) => oc.column("stack_id").doNothing())
      .returning("stack_id")
      .executeTakeFirst();
    return row !== undefined;
  }
  const row = await db
    .updateTable("vcs_poll_cursors")
    .set({
      sha: c.sha,
      repository: c.repository,
      branch: c.branch,
      updated_at: c.now,
    })
    .where("stack_id", "=", c.stackId)
    .where("sha", "=", c.expected)
    .returning("stack_id")
    .executeTakeFirst();
  return row !== undefined;
}

// ---- run links

export interface NewRunLink {
  runId: string;
  stackId: string;
  commitSha: string;
  runType: "TRACKED" | "PROPOSED";
  integrationId: string | null;
  repository: string;
  prNumber: number | null;
  prLabels: string[];
  eventId: string;
}

/**
 * Records the link in the run's insert transaction. The unique (stack, commit, run type)
 * key makes a second run for the same commit fail here, which rolls its run back.
 */
export async function insertRunLink(
  db: Database,
  l: NewRunLink,
): Promise<void> {
  await db
    .insertInto("vcs_run_links")
    .values({
      run_id: l.runId,
      stack_id: l.stackId,
      commit_sha: l.commitSha,
      run_type: l.runType,
      integration_id: l.integrationId,
      repository: l.repository,
      pr_number: l.prNumber,
      pr_labels: l.prLabels,
      event_id: l.eventId,
    })
    .execute();
}

export async function findRunLinkByCommit(
  db: Database,
  k: { stackId: string; commitSha: string; runType: string },
): Promise<{ runId: string } | null> {
  const row = await db
    .selectFrom("vcs_run_links")
    .select("run_id")
    .where("stack_id", "=", k.stackId)
    .where("commit_sha", "=", k.commitSha)
    .where("run_type", "=", k.runType)
    .executeTakeFirst();
  return row ? { runId: row.run_id } : null;
}

/**
 * Proposed runs of the same pull request and stack on another commit that have not
 * ended: what a newer push to the pull request supersedes.
 */
export async function findSupersededPrRuns(
  db: Database,
  k: {
    stackId: string;
    integrationId: string | null;
    repository: string;
    prNumber: number;
    headSha: string;
  },
): Promise<string[]> {
  const rows = await db
    .selectFrom("vcs_run_links as l")
    .innerJoin("runs as r", "r.id", "l.run_id")
    .select("l.run_id")
    .where("l.stack_id", "=", k.stackId)
    .where("l.repository", "=", k.repository)
    .where("l.pr_number", "=", k.prNumber)
    .where("l.run_type", "=", "PROPOSED")
    .where("l.commit_sha", "<>", k.headSha)
    .where("r.state", "not in", TERMINAL_STATES)
    .where((eb) =>
      k.integrationId === null
        ? eb("l.integration_id", "is", null)
        : eb("l.integration_id", "=", k.integrationId),
    )
    .execute();
  return rows.map((r) => r.run_id);
}

/** Updates the labels remembered for a pull request's runs (labeled/unlabeled events). */
export async function setPrLabels(
  db: Database,
  k: {
    integrationId: string;
    repository: string;
    prNumber: number;
    labels: string[];
  },
): Promise<void> {
  await db
    .updateTable("vcs_run_links")
    .set({ pr_labels: k.labels })
    .where("integration_id", "=", k.integrationId)
    .where("repository", "=", k.repository)
    .where("pr_number", "=", k.prNumber)
    .execute();
}

export interface RunLinkRecord {
  runId: string;
  stackId: string;
  commitSha: string;
  runType: string;
  integrationId: string | null;
  repository: string;
  prNumber: number | null;
  prLabels: string[];
  reportedStatus: string | null;
}

export async function findRunLink(
  db: Database,
  runId: string,
): Promise<RunLinkRecord | null> {
  const r = await db
    .selectFrom("vcs_run_links")
    .selectAll()
    .where("run_id", "=", runId)
    .executeTakeFirst();
  return r
    ? {
        runId: r.run_id,
        stackId: r.stack_id,
        commitSha: r.commit_sha,
        runType: r.run_type,
        integrationId: r.integration_id,
        repository: r.repository,
        prNumber: r.pr_number,
        prLabels: r.pr_labels,
        reportedStatus: r.reported_status,
      }
    : null;
}

/** The newest run of a stack for a pull request (the one its comment speaks for). */
export async function findLatestPrRun(
  db: Database,
  k: { stackId: string; repository: string; prNumber: number },
): Promise<string | null> {
  const row = await db
    .selectFrom("vcs_run_links")
    .select("run_id")
    .where("stack_id", "=", k.stackId)
    .where("repository", "=", k.repository)
    .where("pr_number", "=", k.prNumber)
    .orderBy("created_at", "desc")
    .orderBy("run_id", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.run_id ?? null;
}

export async function setReportedStatus(
  db: Database,
  runId: string,
  status: string,
): Promise<void> {
  await db
    .updateTable("vcs_run_links")
    .set({ reported_status: status })
    .where("run_id", "=", runId)
    .execute();
}

/** Runs of one commit and run type on an integration's repository, with their states (aggregated checks). */
export async function listCommitRunStates(
  db: Database,
  k: {
    integrationId: string;
    repository: string;
    commitSha: string;
    runType: string;
  },
): Promise<{ runId: string; stackId: string; state: string }[]> {
  const rows = await db
    .selectFrom("vcs_run_links as l")
    .innerJoin("runs as r", "r.id", "l.run_id")
    .select(["l.run_id", "l.stack_id", "r.state"])
    .where("l.integration_id", "=", k.integrationId)
    .where("l.repository", "=", k.repository)
    .where("l.commit_sha", "=", k.commitSha)
    .where("l.run_type", "=", k.runType)
    .execute();
  return rows.map((r) => ({
    runId: r.run_id,
    stackId: r.stack_id,
    state: r.state,
  }));
}
