import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExecutionKit,
  waitFor,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { silentLog } from "../../../test/run-kit.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";
import { Drain, PostgresQueueBackend } from "../../platform/queue/index.ts";
import { enqueueDispatch, RUN_JOBS } from "./run-enqueue.ts";

let kit: ExecutionKit;
let drain: Drain | null = null;
beforeAll(async () => {
  kit = await createExecutionKit();
});
afterAll(async () => {
  await drain?.stop();
  await kit?.destroy();
});

async function dispatchMessages() {
  const { rows } = await sql<{
    receive_count: number;
    dedup_key: string | null;
    claimed_dedup_key: string | null;
    invisible: boolean;
  }>`select receive_count, dedup_key, claimed_dedup_key, visible_at > now() as invisible
     from queue_messages where name = ${RUN_JOBS.dispatch} order by id`.execute(
    kit.t.db,
  );
  return rows;
}

describe("a drain that dies holding the runs.dispatch message", () => {
  it("does not starve dispatch: the next request is received and dispatches the run at once", async () => {
    const stack = await buildStack(kit.t.db, {
      tracked_commit_sha: "abc1234",
      repository_url: "https://git.example/acme/infra.git",
    });
    const worker = await kit.addWorker();

    // A drain received the dispatch pass (hidden for the production visibility timeout,
    // 300 s) and was killed: no ack, no nack, no heartbeat.
    await enqueueDispatch(kit.t.db);
    const deadDrain = new PostgresQueueBackend({
      pgPool: kit.t.pool,
      largeMessages: null,
    });
    const held = await deadDrain.claim({
      limit: 10,
      visibilityTimeoutMs: 300_000,
      names: [RUN_JOBS.dispatch],
    });
    expect(held.messages).toHaveLength(1);

    // A run becomes READY, and its scheduling pass requests a dispatch (twice, as a burst).
    const run = await kit.runs.service.trigger(ADMIN, {
      stackId: stack.id,
      runType: "TRACKED",
    });
    await kit.walk(run.id, ["READY"]);
    await enqueueDispatch(kit.t.db);
    await enqueueDispatch(kit.t.db);
    expect(await dispatchMessages()).toEqual([
      {
        receive_count: 1,
        dedup_key: null,
        claimed_dedup_key: RUN_JOBS.dispatch,
        invisible: true,
      },
      {
        receive_count: 0,
        dedup_key: RUN_JOBS.dispatch,
        claimed_dedup_key: null,
        invisible: false,
      },
    ]);

    const dispatchJob = kit.runs.jobs[RUN_JOBS.dispatch];
    if (!dispatchJob) throw new Error("runs.dispatch is not in the catalog");
    const startedAt = Date.now();
    drain = new Drain({
      pgPool: kit.t.pool,
      catalog: { [RUN_JOBS.dispatch]: dispatchJob },
      concurrency: 1,
      pollIntervalMs: 200,
      log: silentLog,
      largeMessages: null,
    });
    await drain.start();

    const taken = await waitFor(async () => {
      const row = await kit.run(run.id);
      return row.state === "PREPARING" ? row : undefined;
    }, "the run to be dispatched");
    const elapsedMs = Date.now() - startedAt;
    expect(taken.worker_id).toBe(worker.id);
    // Well inside the 300 s the dead drain's message stays hidden (and the reconciler's
    // 15 s tick, which is not running here at all).
    expect(elapsedMs).toBeLessThan(5000);
    // The dead drain's copy is still hidden; the live request was consumed.
    await waitFor(
      async () => ((await dispatchMessages()).length === 1 ? true : undefined),
      "the new dispatch message to be acked",
    );
    expect(await dispatchMessages()).toEqual([
      {
        receive_count: 1,
        dedup_key: null,
        claimed_dedup_key: RUN_JOBS.dispatch,
        invisible: true,
      },
    ]);
  });
});
