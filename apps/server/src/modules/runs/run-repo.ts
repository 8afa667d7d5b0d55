import { sql, type Selectable } from "kysely";
import type { Database, RunsTable } from "../../platform/db/index.ts";
import {
  AWAITING_WORKER_STATES,
  NOT_HOLDING_LOCK_STATES,
  NOT_STARTED_STATES,
  TERMINAL_STATES,
  isTerminal,
  type RunState,
  type RunType,
} from "../run-status/index.ts";
import { RunVersionConflictError } from "./run-errors.ts";

/**
 * The only writer of `runs`, `run_transitions` and `run_reviews`. Every function takes
 * the handle it runs on first (a transaction or the plain handle); the service opens the
 * transaction and enqueues follow-up jobs inside it.
 *
 * Concurrency contract: `runs.state_version` equals the newest `run_transitions` row's
 * version. `transitionRun` is a compare-and-set on it (`... where id = $1 and
 * state_version = $2`). Under READ COMMITTED a second writer of the same row waits for
 * the first to commit, then re-evaluates its WHERE against the new row, finds the
 * version moved and updates nothing, so exactly one of two racing transitions wins and
 * the other gets RunVersionConflictError. The transition row is inserted in the same
 * transaction with the new version, so history and state can never disagree.
 */

export interface RunRecord {
  id: string;
  stackId: string;
  type: RunType;
  blocking: boolean;
  state: RunState;
  stateVersion: number;
  driftDetection: boolean;
  prioritized: boolean;
  workerPoolId: string | null;
  workerId: string | null;
  /** The state_version at the run's current hand-over to `workerId` (`run.assign` `assignment`). */
  workerAssignment: number | null;
  commitSha: string | null;
  commitMessage: string;
  commitAuthor: string;
  commitAt: Date | null;
  branch: string;
  title: string;
  command: string | null;
  skipInit: boolean;
  triggeredBy: string | null;
  needsApproval: boolean;
  runtimeConfig: unknown;
  userMetadata: string[];
  delta: unknown;
  retryOf: string | null;
  failureReason: string | null;
  replanTargets: string[] | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  lastActivityAt: Date | null;
  finishedAt: Date | null;
}

export interface RunTransition {
  runId: string;
  stateVersion: number;
  state: RunState;
  actor: string | null;
  note: string | null;
  createdAt: Date;
}

export interface RunReviewRecord {
  id: string;
  runId: string;
  author: string;
  decision: "APPROVE" | "REJECT";
  note: string | null;
  state: RunState;
  createdAt: Date;
}

function toRun(row: Selectable<RunsTable>): RunRecord {
  return {
    id: row.id,
    stackId: row.stack_id,
    type: row.type,
    blocking: row.blocking,
    state: row.state as RunState,
    stateVersion: row.state_version,
    driftDetection: row.drift_detection,
    prioritized: row.prioritized,
    workerPoolId: row.worker_pool_id,
    workerId: row.worker_id,
    workerAssignment: row.worker_assignment,
    commitSha: row.commit_sha,
    commitMessage: row.commit_message,
    commitAuthor: row.commit_author,
    commitAt: row.commit_at,
    branch: row.branch,
    title: row.title,
    command: row.command,
    skipInit: row.skip_init,
    triggeredBy: row.triggered_by,
    needsApproval: row.needs_approval,
    runtimeConfig: row.runtime_config,
    userMetadata: row.user_metadata,
    delta: row.delta,
    retryOf: row.retry_of,
    failureReason: row.failure_reason,
    replanTargets: row.replan_targets,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    lastActivityAt: row.last_activity_at,
    finishedAt: row.finished_at,
  };
}

export interface NewRun {
  id: string;
  stackId: string;
  type: RunType;
  blocking: boolean;
  workerPoolId: string;
  commitSha: string | null;
  commitMessage?: string;
  commitAuthor?: string;
  commitAt?: Date | null;
  branch: string;
  title: string;
  command?: string | null;
  skipInit?: boolean;
  triggeredBy: string | null;
  driftDetection?: boolean;
  runtimeConfig?: unknown;
  userMetadata?: string[];
  retryOf?: string | null;
  prioritized?: boolean;
}

/** Inserts a QUEUED run (state_version 1) and its first transition. */
export async function insertRun(
  db: Database,
  run: NewRun,
  first: { actor: string | null; note: string | null; now: Date },
): Promise<RunRecord> {
  const row = await db
    .insertInto("runs")
    .values({
      id: run.id,
      stack_id: run.stackId,
      type: run.type,
      blocking: run.blocking,
      state: "QUEUED",
      state_version: 1,
      drift_detection: run.driftDetection ?? false,
      worker_pool_id: run.workerPoolId,
      commit_sha: run.commitSha,
      commit_message: run.commitMessage ?? "",
      commit_author: run.commitAuthor ?? "",
      commit_at: run.commitAt ?? null,
      branch: run.branch,
      title: run.title,
      command: run.command ?? null,
      skip_init: run.skipInit ?? false,
      triggered_by: run.triggeredBy,
      runtime_config:
        run.runtimeConfig === undefined || run.runtimeConfig === null
          ? null
          : JSON.stringify(run.runtimeConfig),
      user_metadata: JSON.stringify(run.userMetadata ?? []),
      retry_of: run.retryOf ?? null,
      prioritized: run.prioritized ?? false,
      created_at: first.now,
      updated_at: first.now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await db
    .insertInto("run_transitions")
    .values({
      run_id: run.id,
      state_version: 1,
      state: "QUEUED",
      actor: first.actor,
      note: first.note,
      created_at: first.now,
    })
    .execute();
  return toRun(row);
}

/** Columns a transition may set besides the state. */
export interface TransitionColumns {
  failureReason?: string | null;
  workerId?: string | null;
  replanTargets?: string[] | null;
  /** The run is handed to its worker with this transition: `worker_assignment` = the new version. */
  newAssignment?: boolean;
  /** The plan summary shown as `Run.delta` (counts and resource addresses, never values). */
  delta?: unknown;
}

/**
 * Moves the run to `to` if its state_version is still `expectedStateVersion`, and records
 * the transition. Bookkeeping columns follow the state: `finished_at` on a terminal
 * state, `started_at` the first time a worker takes the run (PREPARING), and
 * `last_activity_at` on every transition (the reconciler's silence clock).
 * Throws RunVersionConflictError when another transition got there first.
 */
export async function transitionRun(
  db: Database,
  input: {
    runId: string;
    expectedStateVersion: number;
    to: RunState;
    actor: string | null;
    note: string | null;
    now: Date;
  } & TransitionColumns,
): Promise<RunRecord> {
  const { now } = input;
  const row = await db
    .updateTable("runs")
    .set({
      state: input.to,
      state_version: sql<number>`state_version + 1`,
      updated_at: now,
      last_activity_at: now,
      ...(isTerminal(input.to) ? { finished_at: now } : {}),
      ...(input.to === "PREPARING"
        ? { started_at: sql<Date>`coalesce(started_at, ${now})` }
        : {}),
      ...(input.failureReason !== undefined
        ? { failure_reason: input.failureReason }
        : {}),
      ...(input.workerId !== undefined ? { worker_id: input.workerId } : {}),
      ...(input.replanTargets !== undefined
        ? { replan_targets: input.replanTargets }
        : {}),
      ...(input.newAssignment
        ? { worker_assignment: sql<number>`state_version + 1` }
        : {}),
      ...(input.delta !== undefined
        ? { delta: JSON.stringify(input.delta) }
        : {}),
    })
    .where("id", "=", input.runId)
    .where("state_version", "=", input.expectedStateVersion)
    .returningAll()
    .executeTakeFirst();
  if (!row)
    throw new RunVersionConflictError(input.runId, input.expectedStateVersion);
  await db
    .insertInto("run_transitions")
    .values({
      run_id: row.id,
      state_version: row.state_version,
      state: input.to,
      actor: input.actor,
      note: input.note,
      created_at: now,
    })
    .execute();
  return toRun(row);
}

/** Sets the prioritize flag while the run waits (QUEUED or READY); null when it no longer does. */
export async function setRunPrioritized(
  db: Database,
  runId: string,
  prioritized: boolean,
  now: Date,
): Promise<RunRecord | null> {
  const row = await db
    .updateTable("runs")
    .set({ prioritized, updated_at: now })
    .where("id", "=", runId)
    .where("state", "in", NOT_STARTED_STATES)
    .returningAll()
    .executeTakeFirst();
  return row ? toRun(row) : null;
}

/** The run, row-locked (FOR UPDATE) for the rest of the transaction: serializes worker reports. */
export async function lockRun(
  db: Database,
  runId: string,
): Promise<RunRecord | null> {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("id", "=", runId)
    .forUpdate()
    .executeTakeFirst();
  return row ? toRun(row) : null;
}

/**
 * The run if it is still at `stateVersion`, row-locked; null when another transaction
 * holds it (SKIP LOCKED) or it moved on. A dispatcher uses it to claim a run without
 * ever waiting on another dispatcher.
 */
export async function lockRunAtVersion(
  db: Database,
  runId: string,
  stateVersion: number,
): Promise<RunRecord | null> {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("id", "=", runId)
    .where("state_version", "=", stateVersion)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  return row ? toRun(row) : null;
}

/** Records that the worker reported something (the reconciler's silence clock). */
export async function touchRunActivity(
  db: Database,
  runId: string,
  now: Date,
): Promise<void> {
  await db
    .updateTable("runs")
    .set({ last_activity_at: now })
    .where("id", "=", runId)
    .execute();
}

/** Runs waiting for a worker (READY, CONFIRMED, REPLAN_REQUESTED), oldest first within priority; at most `limit`. */
export async function listRunsAwaitingWorker(
  db: Database,
  limit: number,
): Promise<{ id: string; stateVersion: number }[]> {
  const rows = await db
    .selectFrom("runs")
    .select(["id", "state_version"])
    .where("state", "in", AWAITING_WORKER_STATES)
    .orderBy("prioritized", "desc")
    .orderBy("created_at")
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((r) => ({ id: r.id, stateVersion: r.state_version }));
}

export async function findRun(
  db: Database,
  runId: string,
): Promise<RunRecord | null> {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("id", "=", runId)
    .executeTakeFirst();
  return row ? toRun(row) : null;
}

export const RUN_PAGE_SIZE = 50;

/**
 * A stack's runs of the given types, newest first (created_at, then id, both descending:
 * the `runs_stack_created` index order). `before` is a run id: the page holds only runs
 * strictly older than it. An unknown `before` gives an empty page.
 */
export async function listRunsOfStack(
  db: Database,
  stackId: string,
  opts: { types: readonly RunType[]; before?: string | null; limit?: number },
): Promise<RunRecord[]> {
  let q = db
    .selectFrom("runs")
    .selectAll()
    .where("stack_id", "=", stackId)
    .where("type", "in", [...opts.types]);
  if (opts.before) {
    const cursor = await db
      .selectFrom("runs")
      .select(["created_at", "id"])
      .where("id", "=", opts.before)
      .where("stack_id", "=", stackId)
      .executeTakeFirst();
    if (!cursor) return [];
    q = q.where((eb) =>
      eb(
        eb.refTuple("created_at", "id"),
        "<",
        eb.tuple(cursor.created_at, cursor.id),
      ),
    );
  }
  const rows = await q
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(opts.limit ?? RUN_PAGE_SIZE)
    .execute();
  return rows.map(toRun);
}

/** The newest run of the given types on the stack. */
export async function findLatestRunOfStack(
  db: Database,
  stackId: string,
  types: readonly RunType[],
): Promise<RunRecord | null> {
  const [run] = await listRunsOfStack(db, stackId, { types, limit: 1 });
  return run ?? null;
}

/** The stack's blocking run that holds its lock (`holdsStackLock`), if any; at most one exists. */
export async function findActiveBlockingRun(
  db: Database,
  stackId: string,
): Promise<RunRecord | null> {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("stack_id", "=", stackId)
    .where("blocking", "=", true)
    .where("state", "not in", NOT_HOLDING_LOCK_STATES)
    .executeTakeFirst();
  return row ? toRun(row) : null;
}

/** The run's transitions, newest first (`Run.history` order). */
export async function listTransitions(
  db: Database,
  runId: string,
): Promise<RunTransition[]> {
  const rows = await db
    .selectFrom("run_transitions")
    .selectAll()
    .where("run_id", "=", runId)
    .orderBy("state_version", "desc")
    .execute();
  return rows.map((r) => ({
    runId: r.run_id,
    stateVersion: r.state_version,
    state: r.state as RunState,
    actor: r.actor,
    note: r.note,
    createdAt: r.created_at,
  }));
}

export async function insertReview(
  db: Database,
  review: RunReviewRecord,
): Promise<RunReviewRecord> {
  await db
    .insertInto("run_reviews")
    .values({
      id: review.id,
      run_id: review.runId,
      author: review.author,
      decision: review.decision,
      note: review.note,
      state: review.state,
      created_at: review.createdAt,
    })
    .execute();
  return review;
}

/**
 * Before a worker pool is deleted: clears the pool of its ended runs (history keeps the
 * run, not the pool). Refuses, by returning the ids, when runs of the pool have not ended.
 */
export async function detachPoolFromEndedRuns(
  db: Database,
  poolId: string,
): Promise<{ activeRunIds: string[] }> {
  const active = await db
    .selectFrom("runs")
    .select("id")
    .where("worker_pool_id", "=", poolId)
    .where("state", "not in", TERMINAL_STATES)
    .limit(10)
    .execute();
  if (active.length > 0) return { activeRunIds: active.map((r) => r.id) };
  await db
    .updateTable("runs")
    .set({ worker_pool_id: null })
    .where("worker_pool_id", "=", poolId)
    .execute();
  return { activeRunIds: [] };
}

// Approval policies (run-policies.ts).

/** Sets whether the run waits for its approval policies (`runs.needs_approval`). */
export async function setNeedsApproval(
  db: Database,
  runId: string,
  needsApproval: boolean,
): Promise<void> {
  await db
    .updateTable("runs")
    .set({ needs_approval: needsApproval })
    .where("id", "=", runId)
    .execute();
}

/** The run's reviews, oldest first. */
export async function listReviews(
  db: Database,
  runId: string,
): Promise<RunReviewRecord[]> {
  const rows = await db
    .selectFrom("run_reviews")
    .selectAll()
    .where("run_id", "=", runId)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    author: r.author,
    decision: r.decision,
    note: r.note,
    state: r.state as RunState,
    createdAt: r.created_at,
  }));
}
