import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildStack, buildWorker } from "../../../test/factories.ts";
import { createRunKit, type RunKit } from "../../../test/run-kit.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";

let kit: RunKit;
beforeEach(async () => {
  kit = await createRunKit({
    maxDurationSeconds: 3600,
    logSilenceTimeoutSeconds: 420,
  });
});
afterEach(async () => {
  await kit?.destroy();
});

const later = (seconds: number) => {
  kit.now.value = new Date(kit.now.value.getTime() + seconds * 1000);
};

async function runRow(id: string) {
  return kit.t.db
    .selectFrom("runs")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
}

async function newestTransition(id: string) {
  return kit.t.db
    .selectFrom("run_transitions")
    .selectAll()
    .where("run_id", "=", id)
    .orderBy("state_version", "desc")
    .executeTakeFirstOrThrow();
}

/** A stack whose first run is PLANNING on a live worker, with a second run queued behind it. */
async function planningRun() {
  const worker = await buildWorker(kit.t.db, {
    worker_pool_id: kit.defaultPoolId,
    status: "BUSY",
  });
  await buildWorker(kit.t.db, {
    worker_pool_id: kit.defaultPoolId,
    status: "IDLE",
  });
  const stack = await buildStack(kit.t.db);
  const run = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
  later(1);
  const next = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
  await kit.walk(
    run,
    ["READY", "PREPARING", "INITIALIZING", "PLANNING"],
    worker.id,
  );
  return { worker, stack, run, next };
}

describe("reconciler", () => {
  it("fails a run whose worker is gone, with the reason, and the stack's next run becomes READY", async () => {
    const { worker, run, next } = await planningRun();
    expect(await kit.runs.reconciler.reconcile()).toEqual([]);
    await kit.t.db
      .updateTable("workers")
      .set({ status: "GONE", gone_reason: "no heartbeat for 60 s" })
      .where("id", "=", worker.id)
      .execute();

    const failed = await kit.runs.reconciler.reconcile();
    const reason = `worker ${worker.id} is gone (no heartbeat for 60 s)`;
    expect(failed).toEqual([{ runId: run.id, reason }]);
    expect(await runRow(run.id)).toMatchObject({
      state: "FAILED",
      failure_reason: reason,
    });
    expect(await newestTransition(run.id)).toMatchObject({
      state: "FAILED",
      note: `Failed: ${reason}`,
      actor: null,
    });

    expect(await kit.runs.scheduler.schedule()).toMatchObject({
      ready: [next.id],
    });
    // Idempotent: the next pass has nothing to do.
    expect(await kit.runs.reconciler.reconcile()).toEqual([]);
  });

  it("fails a run that exceeds the maximum run duration", async () => {
    const { run } = await planningRun();
    later(3601);
    // Recent activity: only the duration rule applies.
    await kit.t.db
      .updateTable("runs")
      .set({ last_activity_at: new Date(kit.now.value.getTime() - 5000) })
      .where("id", "=", run.id)
      .execute();
    expect(await kit.runs.reconciler.reconcile()).toEqual([
      {
        runId: run.id,
        reason: "the run exceeded the maximum run duration of 3600 s",
      },
    ]);
    expect((await runRow(run.id)).state).toBe("FAILED");
  });

  it("fails a run that has been silent longer than the silence timeout, and not before", async () => {
    const { run } = await planningRun();
    later(420);
    expect(await kit.runs.reconciler.reconcile()).toEqual([]);
    later(1);
    expect(await kit.runs.reconciler.reconcile()).toEqual([
      {
        runId: run.id,
        reason: "no activity from the worker for more than 420 s",
      },
    ]);
  });

  it("leaves runs waiting for a person or the queue alone", async () => {
    const { run, next } = await planningRun();
    await kit.walk(run, ["UNCONFIRMED"]);
    later(10 * 3600);
    expect(await kit.runs.reconciler.reconcile()).toEqual([]);
    expect((await runRow(next.id)).state).toBe("QUEUED");
  });

  it("fails the runs of lost workers on request", async () => {
    const { worker, run } = await planningRun();
    expect(
      await kit.runs.reconciler.failRunsOfWorkers([worker.id], "unregistered"),
    ).toEqual([run.id]);
    expect((await runRow(run.id)).failure_reason).toBe(
      `worker ${worker.id} was lost: unregistered`,
    );
  });
});
