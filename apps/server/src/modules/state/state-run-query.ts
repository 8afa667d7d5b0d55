import type { Kysely } from "kysely";
import type { DB } from "../../platform/db/index.ts";
import type { StateRunFacts } from "./state.ts";

/**
 * Reads the facts about a run that decide its state access. A read of the runs module's
 * table, kept in this one file (STYLE §4.3: reads may cross modules in a dedicated query
 * file, writes never do). It runs on the caller's transaction so the check and the
 * write it guards see the same snapshot of the run.
 */
export async function findRunFacts(
  q: Kysely<DB>,
  runId: string,
): Promise<StateRunFacts | undefined> {
  const row = await q
    .selectFrom("runs")
    .select(["id", "stack_id", "type", "state"])
    .where("id", "=", runId)
    .executeTakeFirst();
  return (
    row && {
      id: row.id,
      stackId: row.stack_id,
      type: row.type,
      state: row.state,
    }
  );
}
