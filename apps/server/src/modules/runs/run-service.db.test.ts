import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPool, buildStack, buildWorker } from "../../../test/factories.ts";
import { createRunKit, type RunKit } from "../../../test/run-kit.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
} from "../../../test/stacks-fixtures.ts";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
} from "../../platform/errors.ts";
import { RunActionNotAllowedError } from "./run-errors.ts";

let kit: RunKit;
beforeAll(async () => {
  kit = await createRunKit();
});
afterAll(async () => {
  await kit?.destroy();
});

const svc = () => kit.runs.service;

async function scheduleJobs(): Promise<number> {
  const row = await kit.t.db
    .selectFrom("queue_messages")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("name", "=", "runs.schedule")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("trigger", () => {
  it("creates a QUEUED run with its first transition and queues a scheduling pass in the same transaction", async () => {
    const stack = await buildStack(kit.t.db, {
      tracked_commit_sha: "abc1234",
      tracked_commit_message: "Add bucket",
    });
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    expect(run).toMatchObject({
      stackId: stack.id,
      type: "TRACKED",
      state: "QUEUED",
      stateVersion: 1,
      blocking: true,
      commitSha: "abc1234",
      title: "Add bucket",
      workerPoolId: kit.defaultPoolId,
      triggeredBy: "admin",
    });
    const history = await svc().history(run);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      state: "QUEUED",
      stateVersion: 1,
      actor: "admin",
    });
    expect(history[0]?.note).toMatch(
      /^Triggered by admin\. Waiting: no worker of pool "default"/,
    );
    expect(await scheduleJobs()).toBeGreaterThanOrEqual(1);
  });

  it("uses the stack's own pool when it has one, and creates proposed runs as non-blocking", async () => {
    const pool = await buildPool(kit.t.db);
    const stack = await buildStack(kit.t.db, { worker_pool_id: pool.id });
    const run = await svc().trigger(ADMIN, {
      stackId: stack.id,
      runType: "PROPOSED",
      commitSha: "def5678",
    });
    expect(run).toMatchObject({
      workerPoolId: pool.id,
      type: "PROPOSED",
      blocking: false,
      commitSha: "def5678",
    });
  });

  it("refuses a disabled stack with a clear error", async () => {
    const stack = await buildStack(kit.t.db, { is_disabled: true });
    await expect(svc().trigger(ADMIN, { stackId: stack.id })).rejects.toThrow(
      `stack ${stack.id} is disabled, so it takes no new runs; enable it first`,
    );
  });

  it("needs write access on the stack's space and hides stacks outside the caller's spaces", async () => {
    await insertSpace(kit.t.db, "team-a");
    await insertSpace(kit.t.db, "team-b");
    const stack = await buildStack(kit.t.db, { space_id: "team-a" });
    const reader = await apiKeySession(kit.t.db, {
      spaceId: "team-a",
      level: "READ",
    });
    const writer = await apiKeySession(kit.t.db, {
      spaceId: "team-a",
      level: "WRITE",
    });
    const outsider = await apiKeySession(kit.t.db, {
      spaceId: "team-b",
      level: "ADMIN",
    });
    await expect(
      svc().trigger(reader, { stackId: stack.id }),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      svc().trigger(outsider, { stackId: stack.id }),
    ).rejects.toThrow(`stack ${stack.id} not found`);
    const run = await svc().trigger(writer, { stackId: stack.id });
    expect(run.triggeredBy).toBe(`api::${writer.id}`);
    expect(
      await svc().getRun(reader, { stackId: stack.id, runId: run.id }),
    ).not.toBeNull();
    expect(
      await svc().getRun(outsider, { stackId: stack.id, runId: run.id }),
    ).toBeNull();
    await expect(
      svc().cancel(reader, { stackId: stack.id, runId: run.id }),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it("creates tasks with their command and skip-initialization flag", async () => {
    const stack = await buildStack(kit.t.db);
    const task = await svc().createTask(ADMIN, {
      stackId: stack.id,
      command: "tofu state list",
      skipInitialization: true,
    });
    expect(task).toMatchObject({
      type: "TASK",
      command: "tofu state list",
      skipInit: true,
      blocking: true,
      title: "tofu state list",
    });
    expect(
      (await svc().listRuns(ADMIN, stack.id, "tasks")).map((r) => r.id),
    ).toEqual([task.id]);
    expect(await svc().listRuns(ADMIN, stack.id, "runs")).toEqual([]);
  });
});

describe("actions", () => {
  it("cancels a QUEUED run and records who did it, then refuses to cancel it again", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    const canceled = await svc().cancel(ADMIN, {
      stackId: stack.id,
      runId: run.id,
      note: "wrong commit",
    });
    expect(canceled).toMatchObject({ state: "CANCELED", stateVersion: 2 });
    const history = await svc().history(canceled);
    expect(history.map((h) => [h.state, h.stateVersion])).toEqual([
      ["CANCELED", 2],
      ["QUEUED", 1],
    ]);
    expect(history[0]).toMatchObject({
      actor: "admin",
      note: "Canceled by admin: wrong commit",
    });
    await expect(
      svc().cancel(ADMIN, { stackId: stack.id, runId: run.id }),
    ).rejects.toThrow(
      /is in state CANCELED; "cancel" is allowed only in QUEUED, READY\. The run has already ended \(CANCELED is terminal\)/,
    );
  });

  it("refuses to stop a run that has not started, saying what to do instead", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    const err = await svc()
      .stop(ADMIN, { stackId: stack.id, runId: run.id })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunActionNotAllowedError);
    expect((err as Error).message).toMatch(
      /canceled or discarded, not stopped/,
    );
  });

  it("stops a PLANNING run", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    await kit.walk(
      run,
      ["READY", "PREPARING", "INITIALIZING", "PLANNING"],
      "wrk_x",
    );
    const stopped = await svc().stop(ADMIN, {
      stackId: stack.id,
      runId: run.id,
      note: "Stopped by spacectl",
    });
    expect(stopped).toMatchObject({ state: "STOPPED", stateVersion: 6 });
  });

  it("confirms only UNCONFIRMED tracked runs", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    await expect(
      svc().confirm(ADMIN, { stackId: stack.id, runId: run.id }),
    ).rejects.toThrow(/"confirm" is allowed only in UNCONFIRMED/);
    await kit.walk(
      run,
      ["READY", "PREPARING", "INITIALIZING", "PLANNING", "UNCONFIRMED"],
      "wrk_x",
    );
    const confirmed = await svc().confirm(ADMIN, {
      stackId: stack.id,
      runId: run.id,
    });
    expect(confirmed).toMatchObject({ state: "CONFIRMED", stateVersion: 7 });
  });

  it("lets exactly one of two racing confirms win", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    await kit.walk(
      run,
      ["READY", "PREPARING", "INITIALIZING", "PLANNING", "UNCONFIRMED"],
      "wrk_x",
    );
    const results = await Promise.allSettled([
      svc().confirm(ADMIN, { stackId: stack.id, runId: run.id }),
      svc().confirm(ADMIN, { stackId: stack.id, runId: run.id }),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toBeInstanceOf(
      ConflictError,
    );
    const transitions = await kit.t.db
      .selectFrom("run_transitions")
      .select("state")
      .where("run_id", "=", run.id)
      .where("state", "=", "CONFIRMED")
      .execute();
    expect(transitions).toHaveLength(1);
  });

  it("discards the stack's blocker when no run is given", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    await kit.walk(
      run,
      ["READY", "PREPARING", "INITIALIZING", "PLANNING", "UNCONFIRMED"],
      "wrk_x",
    );
    const discarded = await svc().discard(ADMIN, {
      stackId: stack.id,
      runId: null,
    });
    expect(discarded).toMatchObject({ id: run.id, state: "DISCARDED" });
  });

  it("retries a failed run as a new run of the same type and commit, only the latest tracked one", async () => {
    const stack = await buildStack(kit.t.db);
    const first = await svc().trigger(ADMIN, {
      stackId: stack.id,
      commitSha: "aaa1111",
    });
    await kit.walk(first, ["READY", "PREPARING", "FAILED"], "wrk_x");
    expect(await svc().canRetry(await refetch(first.id))).toBe(true);
    const retried = await svc().retry(ADMIN, {
      stackId: stack.id,
      runId: first.id,
    });
    expect(retried).toMatchObject({
      type: "TRACKED",
      commitSha: "aaa1111",
      retryOf: first.id,
      state: "QUEUED",
    });
    expect(await svc().canRetry(await refetch(first.id))).toBe(false);
    await expect(
      svc().retry(ADMIN, { stackId: stack.id, runId: first.id }),
    ).rejects.toThrow(/is not the latest tracked run/);
    await expect(
      svc().retry(ADMIN, { stackId: stack.id, runId: retried.id }),
    ).rejects.toThrow(
      /The run has not ended; only a FAILED or STOPPED run can be retried/,
    );
  });

  it("prioritizes waiting runs only", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    expect(
      await svc().prioritize(ADMIN, {
        stackId: stack.id,
        runId: run.id,
        prioritize: true,
      }),
    ).toMatchObject({
      prioritized: true,
      stateVersion: 1,
    });
    await svc().cancel(ADMIN, { stackId: stack.id, runId: run.id });
    await expect(
      svc().prioritize(ADMIN, {
        stackId: stack.id,
        runId: run.id,
        prioritize: false,
      }),
    ).rejects.toThrow(/"prioritize" is allowed only in QUEUED, READY/);
  });

  it("records a rejecting review and fails the run", async () => {
    const stack = await buildStack(kit.t.db);
    const run = await svc().trigger(ADMIN, { stackId: stack.id });
    await kit.walk(
      run,
      ["READY", "PREPARING", "INITIALIZING", "PLANNING", "UNCONFIRMED"],
      "wrk_x",
    );
    const review = await svc().review(ADMIN, {
      stackId: stack.id,
      runId: run.id,
      decision: "REJECT",
      note: "too risky",
    });
    expect(review).toMatchObject({
      decision: "REJECT",
      state: "FAILED",
      author: "admin",
      note: "too risky",
    });
    expect(await refetch(run.id)).toMatchObject({
      state: "FAILED",
      failureReason: "rejected by admin",
    });
  });

  it("answers runStack with exactly `not found` for a missing run", async () => {
    await expect(svc().stackIdOfRun(ADMIN, "run_missing")).rejects.toThrow(
      new NotFoundError("not found"),
    );
  });

  it("lists runs newest first, paging with `before`", async () => {
    const stack = await buildStack(kit.t.db);
    await buildWorker(kit.t.db, {
      worker_pool_id: kit.defaultPoolId,
      status: "GONE",
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      kit.now.value = new Date(kit.now.value.getTime() + 1000);
      ids.push((await svc().trigger(ADMIN, { stackId: stack.id })).id);
    }
    const page = await svc().listRuns(ADMIN, stack.id, "runs");
    expect(page.map((r) => r.id)).toEqual([...ids].reverse());
    const older = await svc().listRuns(ADMIN, stack.id, "runs", ids[2]);
    expect(older.map((r) => r.id)).toEqual([ids[1], ids[0]]);
    expect(await svc().listRuns(ADMIN, stack.id, "runs", ids[0])).toEqual([]);
    expect(await svc().isMostRecent(page[0]!)).toBe(true);
    expect(await svc().isMostRecent(page[1]!)).toBe(false);
  });
});

async function refetch(id: string) {
  const run = await kit.runs.service.getRun(ADMIN, {
    stackId: (
      await kit.t.db
        .selectFrom("runs")
        .select("stack_id")
        .where("id", "=", id)
        .executeTakeFirstOrThrow()
    ).stack_id,
    runId: id,
  });
  if (!run) throw new Error(`run ${id} vanished`);
  return run;
}
