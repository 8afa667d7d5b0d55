import type { Database } from "../../platform/db/index.ts";

export interface LocalWorkspaceRecord {
  id: string;
  stackId: string;
  createdBy: string;
  state: "RESERVED" | "RECEIVING" | "UPLOADED";
  sizeBytes: number | null;
  runId: string | null;
  envOverridesEncrypted: string | null;
}

type Row = {
  id: string;
  stack_id: string;
  created_by: string;
  state: "RESERVED" | "RECEIVING" | "UPLOADED";
  size_bytes: string | null;
  run_id: string | null;
  env_overrides_encrypted: string | null;
};

const toRecord = (r: Row): LocalWorkspaceRecord => ({
  id: r.id,
  stackId: r.stack_id,
  createdBy: r.created_by,
  state: r.state,
  sizeBytes: r.size_bytes === null ? null : Number(r.size_bytes),
  runId: r.run_id,
  envOverridesEncrypted: r.env_overrides_encrypted,
});

const COLUMNS = [
  "id",
  "stack_id",
  "created_by",
  "state",
  "size_bytes",
  "run_id",
  "env_overrides_encrypted",
] as const;

export async function insertLocalWorkspace(
  db: Database,
  row: { id: string; stackId: string; createdBy: string; now: Date },
): Promise<void> {
  await db
    .insertInto("local_workspaces")
    .values({
      id: row.id,
      stack_id: row.stackId,
      created_by: row.createdBy,
      created_at: row.now,
    })
    .execute();
}

export async function findLocalWorkspace(
  db: Database,
  id: string,
): Promise<LocalWorkspaceRecord | null> {
  const row = await db
    .selectFrom("local_workspaces")
    .select(COLUMNS)
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? toRecord(row) : null;
}

export async function findLocalWorkspaceOfRun(
  db: Database,
  runId: string,
): Promise<LocalWorkspaceRecord | null> {
  const row = await db
    .selectFrom("local_workspaces")
    .select(COLUMNS)
    .where("run_id", "=", runId)
    .executeTakeFirst();
  return row ? toRecord(row) : null;
}

/** RESERVED → RECEIVING as a compare-and-set: true for the one request that takes the upload. */
export async function startReceiving(
  db: Database,
  id: string,
): Promise<boolean> {
  const r = await db
    .updateTable("local_workspaces")
    .set({ state: "RECEIVING" })
    .where("id", "=", id)
    .where("state", "=", "RESERVED")
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

/** RECEIVING → UPLOADED (stored) or back to RESERVED (refused, so it can be sent again). */
export async function finishReceiving(
  db: Database,
  id: string,
  outcome: { stored: true; sizeBytes: number; now: Date } | { stored: false },
): Promise<void> {
  await db
    .updateTable("local_workspaces")
    .set(
      outcome.stored
        ? {
            state: "UPLOADED",
            size_bytes: outcome.sizeBytes,
            uploaded_at: outcome.now,
          }
        : { state: "RESERVED" },
    )
    .where("id", "=", id)
    .where("state", "=", "RECEIVING")
    .execute();
}

/**
 * Binds an uploaded workspace of `stackId` to `runId`, once: a compare-and-set on
 * `run_id IS NULL`, so two proposals racing for one workspace create one run.
 */
export async function bindToRun(
  tx: Database,
  input: {
    id: string;
    stackId: string;
    runId: string;
    envOverridesEncrypted: string;
  },
): Promise<boolean> {
  const r = await tx
    .updateTable("local_workspaces")
    .set({
      run_id: input.runId,
      env_overrides_encrypted: input.envOverridesEncrypted,
    })
    .where("id", "=", input.id)
    .where("stack_id", "=", input.stackId)
    .where("state", "=", "UPLOADED")
    .where("run_id", "is", null)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}
