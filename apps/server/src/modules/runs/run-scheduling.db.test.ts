import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildPool, buildStack, buildWorker } from "../../../test/factories.ts";
import {
  activeBlockingRuns,
  createRunKit,
  type RunKit,
} from "../../../test/run-kit.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";

// A fresh database per test: capacity is per pool and scheduling passes are global.
let kit: RunKit;
beforeEach(async () => {
  kit = await createRunKit();
});
afterEach(async () => {
  await kit?.destroy();
});

const svc = () => kit.runs.service;
const schedule = () => kit.runs.scheduler.schedule();

async function stateOf(id: string): Promise<string> {
  const row = await kit.t.db
    .selectFrom("runs")
    .select("state")
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
  return row.state;
}

async function newestNote(id: string): Promise<string | null> {
  const run = await svc().getRun(ADMIN, {
    stackId: (
      await kit.t.db
        .selectFrom("runs")
        .select("stack_id")
        .where("id", "=", id)
        .executeTakeFirstOrThrow()
    ).stack_id,
    runId: id,
  });
  const [newest] = await svc().history(run!);
  return newest?.note ?? null;
}

/** One run per step, one clock second apart, so FIFO order is the trigger order. */
async function trigger(
  stackId: string,
  runType: "TRACKED" | "PROPOSED" = "TRACKED",
) {
  kit.now.value = new Date(kit.now.value.getTime() + 1000);
  return svc().trigger(ADMIN, { stackId, runType });
}

describe("scheduling", () => {
  it("makes a run READY only when an idle worker of its pool can take it", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await trigger(stack.id);
    expect(await schedule()).toMatchObject({ ready: [] });
    expect(await newestNote(run.id)).toMatch(
      /Waiting: no worker of pool "default" \(wp_.*\) is connected/,
    );

    await buildWorker(kit.t.db, {
      worker_pool_id: kit.defaultPoolId,
      status: "IDLE",
      drained: true,
    });
    await buildWorker(kit.t.db, {
      worker_pool_id: kit.defaultPoolId,
      status: "BUSY",
    });
    expect(await schedule()).toMatchObject({ ready: [] });
    expect(await newestNote(run.id)).toMatch(
      /no idle worker in pool "default".*: 2 connected, 1 busy, 1 drained/,
    );

    await buildWorker(kit.t.db, {
      worker_pool_id: kit.defaultPoolId,
      status: "IDLE",
    });
    expect(await schedule()).toMatchObject({ ready: [run.id] });
    expect(await stateOf(run.id)).toBe("READY");

    // The idle worker is now reserved by the READY run: another stack's run must wait.
    const other = await trigger((await buildStack(kit.t.db)).id);
    expect(await schedule()).toMatchObject({ ready: [] });
    expect(await newestNote(other.id)).toMatch(
      /1 reserved for runs about to start/,
    );
  });

  it("runs a stack's blocking runs one at a time, oldest first", async () => {
    for (let i = 0; i < 5; i++)
      await buildWorker(kit.t.db, { worker_pool_id: kit.defaultPoolId });
    const stack = await buildStack(kit.t.db);
    const [a, b, c] = [
      await trigger(stack.id),
      await trigger(stack.id),
      await trigger(stack.id),
    ];
    expect(await schedule()).toMatchObject({ ready: [a.id] });
    expect(await newestNote(b.id)).toMatch(
      `waiting for run ${a.id} (READY) to finish on this stack`,
    );
    await kit.walk(
      a,
      ["PREPARING", "INITIALIZING", "PLANNING", "FINISHED"],
      "wrk_1",
    );
    expect(await newestNote(c.id)).toMatch(
      `waiting behind run ${b.id}, queued earlier on this stack`,
    );
    expect(await schedule()).toMatchObject({ ready: [b.id] });
    expect(await stateOf(c.id)).toBe("QUEUED");
  });

  it("runs proposed runs in parallel with each other and with the stack's blocking run", async () => {
    for (let i = 0; i < 3; i++)
      await buildWorker(kit.t.db, { worker_pool_id: kit.defaultPoolId });
    const stack = await buildStack(kit.t.db);
    const tracked = await trigger(stack.id);
    const p1 = await trigger(stack.id, "PROPOSED");
    const p2 = await trigger(stack.id, "PROPOSED");
    const { ready } = await schedule();
    expect(ready.sort()).toEqual([tracked.id, p1.id, p2.id].sort());
  });

  it("starts prioritized runs first when workers are short", async () => {
    await buildWorker(kit.t.db, { worker_pool_id: kit.defaultPoolId });
    const older = await trigger((await buildStack(kit.t.db)).id);
    const newer = await trigger((await buildStack(kit.t.db)).id);
    await svc().prioritize(ADMIN, {
      stackId: newer.stackId,
      runId: newer.id,
      prioritize: true,
    });
    expect(await schedule()).toMatchObject({ ready: [newer.id] });
    expect(await stateOf(older.id)).toBe("QUEUED");
  });

  it("keeps runs of a disabled stack QUEUED and says why", async () => {
    await buildWorker(kit.t.db, { worker_pool_id: kit.defaultPoolId });
    const stack = await buildStack(kit.t.db);
    const run = await trigger(stack.id);
    await kit.t.db
      .updateTable("stacks")
      .set({ is_disabled: true })
      .where("id", "=", stack.id)
      .execute();
    expect(await schedule()).toMatchObject({ ready: [] });
    expect(await newestNote(run.id)).toMatch(
      /Waiting: the stack is disabled; enable it, or cancel this run/,
    );
  });

  it("leaves a run QUEUED, not failed, when the unique index says another blocking run took the stack first", async () => {
    const other = await buildPool(kit.t.db);
    await buildWorker(kit.t.db, { worker_pool_id: kit.defaultPoolId });
    const stack = await buildStack(kit.t.db);
    const waiting = await trigger(stack.id);

    // An uncommitted transaction starts another blocking run of the stack (as a racing
    // scheduler of another pool would): the pass cannot see it, picks `waiting`, blocks
    // on the index entry, and gets the unique violation once the rival commits.
    const rival = kit.t.db.transaction().execute(async (tx) => {
      await tx
        .insertInto("runs")
        .values({
          id: "run_rival",
          stack_id: stack.id,
          type: "TASK",
          blocking: true,
          state: "READY",
          worker_pool_id: other.id,
        })
        .execute();
      const pass = schedule();
      await new Promise((r) => setTimeout(r, 200));
      // Wrapped, so the transaction commits without waiting for the pass it blocks.
      return { pass };
    });
    const result = await (await rival).pass;
    expect(result).toMatchObject({ ready: [], lostRaces: [waiting.id] });
    expect(await stateOf(waiting.id)).toBe("QUEUED");
    expect(await newestNote(waiting.id)).toMatch(
      "waiting for run run_rival (READY) to finish on this stack",
    );
  });

  it("never lets two concurrent passes start two blocking runs of one stack", async () => {
    const second = await buildPool(kit.t.db);
    for (let i = 0; i < 4; i++) {
      await buildWorker(kit.t.db, { worker_pool_id: kit.defaultPoolId });
      await buildWorker(kit.t.db, { worker_pool_id: second.id });
    }
    const stack = await buildStack(kit.t.db);
    const queue = async () => {
      const run = await trigger(stack.id);
      // Every other run sits in the second pool, so the two passes' pool locks do not
      // serialize them and only the unique index stands between them.
      if (run.id.charCodeAt(run.id.length - 1) % 2 === 0)
        await kit.t.db
          .updateTable("runs")
          .set({ worker_pool_id: second.id })
          .where("id", "=", run.id)
          .execute();
    };
    for (let i = 0; i < 6; i++) await queue();

    let started = 0;
    for (let round = 0; round < 50; round++) {
      const results = await Promise.all([schedule(), schedule()]);
      started += results.reduce((n, r) => n + r.ready.length, 0);
      expect(await activeBlockingRuns(kit.t, stack.id)).toBeLessThanOrEqual(1);
      // The active run finishes; the queue is topped up.
      const active = await kit.t.db
        .selectFrom("runs")
        .select("id")
        .where("stack_id", "=", stack.id)
        .where("state", "=", "READY")
        .execute();
      for (const run of active) await kit.walk(run, ["FAILED"]);
      await queue();
    }
    expect(started).toBeGreaterThanOrEqual(40);
  });
});
