import { pino } from "pino";
import { createStacksModule } from "../src/modules/stacks/index.ts";
import { createRunsModule, type RunRecord } from "../src/modules/runs/index.ts";
import { transitionRun } from "../src/modules/runs/run-repo.ts";
import type { RunState } from "../src/modules/runs/run.ts";
import type { Logger } from "../src/platform/log/logger.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";
import { buildPool } from "./factories.ts";
import { testEncryptor } from "./stacks-fixtures.ts";

export const silentLog = pino({ level: "silent" }) as unknown as Logger;

export interface RunKit {
  t: TestDatabase;
  now: { value: Date };
  runs: ReturnType<typeof createRunsModule>;
  stacks: ReturnType<typeof createStacksModule>;
  defaultPoolId: string;
  /** Moves a run through `states` as a worker would (no rules checked), returning it. */
  walk(
    run: { id: string },
    states: RunState[],
    workerId?: string,
  ): Promise<RunRecord>;
  destroy(): Promise<void>;
}

/** A migrated database, a default pool, the stacks module and the run engine on a fake clock. */
export async function createRunKit(
  limits = { maxDurationSeconds: 4200, logSilenceTimeoutSeconds: 420 },
): Promise<RunKit> {
  const t = await createTestDatabase();
  const now = { value: new Date("2026-03-01T12:00:00Z") };
  const clock = () => now.value;
  const stacks = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock,
  });
  const runs = createRunsModule({
    db: t.db,
    access: stacks.access,
    stacks: stacks.stacks,
    clock,
    log: silentLog,
    limits,
  });
  const pool = await buildPool(t.db, { name: "default", is_default: true });
  return {
    t,
    now,
    runs,
    stacks,
    defaultPoolId: pool.id,
    async walk(run, states, workerId) {
      let current: RunRecord | null = null;
      for (const to of states) {
        const row = await t.db
          .selectFrom("runs")
          .select("state_version")
          .where("id", "=", run.id)
          .executeTakeFirstOrThrow();
        current = await transitionRun(t.db, {
          runId: run.id,
          expectedStateVersion: row.state_version,
          to,
          actor: null,
          note: null,
          now: now.value,
          ...(workerId !== undefined ? { workerId } : {}),
        });
      }
      if (!current) throw new Error("walk needs at least one state");
      return current;
    },
    destroy: () => t.destroy(),
  };
}

/** The number of a stack's blocking runs past QUEUED and not ended (the stack lock holders). */
export async function activeBlockingRuns(
  t: TestDatabase,
  stackId: string,
): Promise<number> {
  const row = await t.db
    .selectFrom("runs")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("stack_id", "=", stackId)
    .where("blocking", "=", true)
    .where("state", "not in", [
      "QUEUED",
      "FINISHED",
      "FAILED",
      "DISCARDED",
      "CANCELED",
      "STOPPED",
      "SKIPPED",
    ])
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
