import type { Database } from "../../platform/db/index.ts";

/**
 * The only writer of `run_log_chunks`: log chunks as workers sent them, keyed by
 * (run, state version, seq). The state version is the `run_transitions` version that
 * entered the state the chunk belongs to, which is what `Run.logs(stateVersion)` asks
 * for. Inserts ignore a duplicate key, so a retried chunk is stored once.
 */

export interface LogChunk {
  seq: number;
  text: string;
  /** When the server stored it. */
  createdAt: Date;
}

const CHUNK_COLUMNS = ["seq", "text", "created_at"] as const;
const toChunk = (r: { seq: number; text: string; created_at: Date }) => ({
  seq: r.seq,
  text: r.text,
  createdAt: r.created_at,
});

/** Stores a chunk unless one with the same key exists; true when it was new. */
export async function insertLogChunk(
  db: Database,
  chunk: {
    runId: string;
    state: string;
    stateVersion: number;
    seq: number;
    text: string;
    now: Date;
  },
): Promise<boolean> {
  const res = await db
    .insertInto("run_log_chunks")
    .values({
      run_id: chunk.runId,
      state: chunk.state,
      state_version: chunk.stateVersion,
      seq: chunk.seq,
      text: chunk.text,
      created_at: chunk.now,
    })
    .onConflict((oc) =>
      oc.columns(["run_id", "state_version", "seq"]).doNothing(),
    )
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Chunks of one state version with seq >= `fromSeq`, in seq order, at most `limit`. */
export async function listLogChunks(
  db: Database,
  runId: string,
  stateVersion: number,
  fromSeq: number,
  limit: number,
): Promise<LogChunk[]> {
  const rows = await db
    .selectFrom("run_log_chunks")
    .select(CHUNK_COLUMNS)
    .where("run_id", "=", runId)
    .where("state_version", "=", stateVersion)
    .where("seq", ">=", fromSeq)
    .orderBy("seq")
    .limit(limit)
    .execute();
  return rows.map(toChunk);
}

export async function hasLogChunks(
  db: Database,
  runId: string,
  stateVersion: number,
): Promise<boolean> {
  const row = await db
    .selectFrom("run_log_chunks")
    .select("seq")
    .where("run_id", "=", runId)
    .where("state_version", "=", stateVersion)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The version of the transition that entered `state` in the hand-over `assignment`: the
 * first one at or after the assignment's own version (a state occurs at most once per
 * hand-over). Null when the run has not entered the state in that hand-over.
 */
export async function findStateVersion(
  db: Database,
  runId: string,
  state: string,
  assignment: number,
): Promise<number | null> {
  const row = await db
    .selectFrom("run_transitions")
    .select("state_version")
    .where("run_id", "=", runId)
    .where("state", "=", state)
    .where("state_version", ">=", assignment)
    .orderBy("state_version")
    .limit(1)
    .executeTakeFirst();
  return row?.state_version ?? null;
}

/** The newest version in which the run entered `state` (for `Run.logs` without a version). */
export async function findLatestStateVersion(
  db: Database,
  runId: string,
  state: string,
): Promise<number | null> {
  const row = await db
    .selectFrom("run_transitions")
    .select("state_version")
    .where("run_id", "=", runId)
    .where("state", "=", state)
    .orderBy("state_version", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.state_version ?? null;
}

/** (run, state version) pairs with chunks of runs that ended before `endedBefore`. */
export async function findArchivableLogs(
  db: Database,
  endedBefore: Date,
  limit: number,
): Promise<{ runId: string; stateVersion: number }[]> {
  const rows = await db
    .selectFrom("run_log_chunks as c")
    .innerJoin("runs as r", "r.id", "c.run_id")
    .select(["c.run_id", "c.state_version"])
    .distinct()
    .where("r.finished_at", "<", endedBefore)
    .orderBy("c.run_id")
    .orderBy("c.state_version")
    .limit(limit)
    .execute();
  return rows.map((r) => ({ runId: r.run_id, stateVersion: r.state_version }));
}

/** Every chunk of one state version, in seq order. */
export async function listAllLogChunks(
  db: Database,
  runId: string,
  stateVersion: number,
): Promise<LogChunk[]> {
  const rows = await db
    .selectFrom("run_log_chunks")
    .select(CHUNK_COLUMNS)
    .where("run_id", "=", runId)
    .where("state_version", "=", stateVersion)
    .orderBy("seq")
    .execute();
  return rows.map(toChunk);
}

/** Deletes exactly the given chunks (those an archive pass wrote out), nothing that came later. */
export async function deleteLogChunks(
  db: Database,
  runId: string,
  stateVersion: number,
  seqs: readonly number[],
): Promise<void> {
  if (seqs.length === 0) return;
  await db
    .deleteFrom("run_log_chunks")
    .where("run_id", "=", runId)
    .where("state_version", "=", stateVersion)
    .where("seq", "in", [...seqs])
    .execute();
}
