import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildStack } from "../../../test/factories.ts";
import {
  NOT_HOLDING_LOCK_STATES,
  PENDING_STATES,
  RUN_STATES,
  TERMINAL_STATES,
  type RunState,
} from "./index.ts";

/**
 * The migrations state some sets of run states in SQL (partial index predicates, trigger
 * functions). SQL cannot import run-status.ts, so these tests evaluate the installed
 * predicates for every run state and hold them to the named sets.
 */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t?.destroy();
});

const sorted = (states: readonly string[]) => [...states].sort();

/** The states (of a blocking run) that satisfy the partial index's installed predicate. */
async function statesInIndex(index: string): Promise<string[]> {
  const { rows } = await sql<{ predicate: string }>`
    select pg_get_expr(i.indpred, i.indrelid) as predicate
    from pg_index i join pg_class c on c.oid = i.indexrelid
    where c.relname = ${index}`.execute(t.db);
  const predicate = rows[0]?.predicate;
  if (!predicate) throw new Error(`index ${index} has no predicate`);
  const { rows: matching } = await sql<{ state: string }>`
    select state from (
      select unnest(${[...RUN_STATES]}::text[]) as state, true as blocking
    ) runs where ${sql.raw(predicate)}`.execute(t.db);
  return matching.map((r) => r.state);
}

describe("the migrations' SQL predicates over run states", () => {
  it("runs_active (0002) holds exactly the non-terminal states", async () => {
    expect(sorted(await statesInIndex("runs_active"))).toEqual(
      sorted(
        RUN_STATES.filter(
          (s) => !(TERMINAL_STATES as readonly RunState[]).includes(s),
        ),
      ),
    );
  });

  it("runs_pending (0002) holds exactly the PENDING_STATES", async () => {
    expect(sorted(await statesInIndex("runs_pending"))).toEqual(
      sorted(PENDING_STATES),
    );
  });

  it("runs_one_active_blocking_per_stack (0002) holds a blocking run in every state but NOT_HOLDING_LOCK_STATES", async () => {
    expect(
      sorted(await statesInIndex("runs_one_active_blocking_per_stack")),
    ).toEqual(
      sorted(
        RUN_STATES.filter(
          (s) => !(NOT_HOLDING_LOCK_STATES as readonly RunState[]).includes(s),
        ),
      ),
    );
  });

  it("policies_run_transition (0010) enqueues for trigger policies exactly on the terminal states", async () => {
    await sql`insert into policies (id, name, type, body, space_id, engine_type)
      values ('trigger-all', 'trigger-all', 'TRIGGER', 'package spacelift', 'root', 'REGO_V1')`.execute(
      t.db,
    );
    const stack = await buildStack(t.db);
    await sql`insert into runs (id, stack_id, type, blocking, state)
      values ('run-states', ${stack.id}, 'TRACKED', true, 'QUEUED')`.execute(
      t.db,
    );
    let version = 1;
    for (const state of RUN_STATES) {
      version++;
      await sql`insert into run_transitions (run_id, state_version, state)
        values ('run-states', ${version}, ${state})`.execute(t.db);
    }
    const { rows } = await sql<{ state: string }>`
      select payload ->> 'state' as state from queue_messages
      where name = 'policies.runTransitioned'`.execute(t.db);
    expect(sorted(rows.map((r) => r.state))).toEqual(sorted(TERMINAL_STATES));
  });
});
