import { WORKER_API_PREFIX, type RunAssign } from "@stackyard/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExecutionKit,
  waitFor,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";

/**
 * The plan document: uploaded by the worker over the worker API (PUT .../plan),
 * validated, stored in the run-logs bucket, read back by `readPlanDocument`, and shown
 * as `Run.stackyardPlanChanges` and `Run.changesV3`. Also `Worker.stackyardCurrentRun`
 * while the worker holds the run. Real Postgres, broker and filesystem storage.
 */

let kit: ExecutionKit;
beforeAll(async () => {
  kit = await createExecutionKit();
});
afterAll(async () => {
  await kit?.destroy();
});

const planUrl = (runId: string) => `${WORKER_API_PREFIX}/${runId}/plan`;
const eventsUrl = (runId: string) => `${WORKER_API_PREFIX}/${runId}/events`;

const DOCUMENT = {
  terraform_version: "1.10.10",
  resource_changes: [
    {
      address: "aws_db_instance.main",
      mode: "managed",
      type: "aws_db_instance",
      name: "main",
      provider_name: "registry.opentofu.org/hashicorp/aws",
      change: {
        actions: ["update"],
        before: { password: "(sensitive)", port: 5432 },
        after: { password: "(sensitive)", port: 5433 },
      },
    },
    {
      address: "terraform_data.renamed",
      previous_address: "terraform_data.old",
      type: "terraform_data",
      name: "renamed",
      provider_name: "terraform.io/builtin/terraform",
      change: { actions: ["no-op"], before: { a: 1 }, after: { a: 1 } },
    },
    {
      address: "terraform_data.gone",
      type: "terraform_data",
      name: "gone",
      provider_name: "terraform.io/builtin/terraform",
      change: { actions: ["delete"], before: { input: "x" }, after: null },
    },
  ],
};

async function dispatched(): Promise<{
  runId: string;
  stackId: string;
  workerId: string;
  assign: RunAssign;
}> {
  const stack = await buildStack(kit.t.db, {
    tracked_commit_sha: "abc1234",
    repository_url: "https://git.example/acme/infra.git",
    manage_state: true,
  });
  const worker = await kit.addWorker();
  const run = await kit.runs.service.trigger(ADMIN, {
    stackId: stack.id,
    runType: "TRACKED",
  });
  await kit.walk(run.id, ["READY"]);
  await kit.t.db
    .updateTable("workers")
    .set({ drained: true })
    .where("id", "<>", worker.id)
    .execute();
  await kit.dispatcher.dispatch();
  await kit.t.db.updateTable("workers").set({ drained: false }).execute();
  const assign = await waitFor(
    () =>
      kit.published.flatMap((p) =>
        p.msg.type === "run.assign" && p.msg.runId === run.id ? [p.msg] : [],
      )[0],
    "run.assign",
  );
  return { runId: run.id, stackId: stack.id, workerId: worker.id, assign };
}

const RUN_PLAN = `query($stack:ID!$run:ID!){stack(id: $stack){run(id: $run){stackyardPlanChanges{address,previousAddress,type,name,providerName,actions,before,after},changesV3(input: {}){resources{address,previousAddress,metadata{type}}}}}}`;

describe("plan documents", () => {
  it("stores a worker's upload and serves it as the run's per-resource changes", async () => {
    const { runId, stackId, assign } = await dispatched();
    const token = kit.runToken(assign);

    const put = await kit.call("PUT", planUrl(runId), token, {
      assignment: assign.assignment,
      document: DOCUMENT,
    });
    expect(put.status).toBe(200);
    expect(put.json()).toEqual({ stored: true });
    expect(await kit.runs.plans?.readPlanDocument(runId)).toEqual(DOCUMENT);

    for (const state of ["INITIALIZING", "PLANNING"])
      await kit.call("POST", eventsUrl(runId), token, {
        type: "state",
        assignment: assign.assignment,
        state,
      });
    await kit.call(
      "PUT",
      `${WORKER_API_PREFIX}/${runId}/workspace`,
      token,
      "sb1.x",
    );
    const result = await kit.call("POST", eventsUrl(runId), token, {
      type: "result",
      assignment: assign.assignment,
      phase: "plan",
      ok: true,
      plan: {
        hasChanges: true,
        add: 0,
        change: 1,
        destroy: 1,
        resources: [
          { address: "aws_db_instance.main", actions: ["update"] },
          { address: "terraform_data.gone", actions: ["delete"] },
        ],
        outputs: [],
      },
    });
    expect(result.json()).toMatchObject({ state: "UNCONFIRMED" });

    const res = await kit.graphql(RUN_PLAN, { stack: stackId, run: runId });
    const run = (
      res.json as {
        data: {
          stack: {
            run: {
              stackyardPlanChanges: Array<Record<string, unknown>>;
              changesV3: Array<{ resources: unknown[] }>;
            };
          };
        };
      }
    ).data.stack.run;
    expect(run.stackyardPlanChanges).toEqual([
      {
        address: "aws_db_instance.main",
        previousAddress: null,
        type: "aws_db_instance",
        name: "main",
        providerName: "registry.opentofu.org/hashicorp/aws",
        actions: ["update"],
        before: JSON.stringify({ password: "(sensitive)", port: 5432 }),
        after: JSON.stringify({ password: "(sensitive)", port: 5433 }),
      },
      expect.objectContaining({
        address: "terraform_data.renamed",
        previousAddress: "terraform_data.old",
        actions: ["no-op"],
      }),
      expect.objectContaining({
        address: "terraform_data.gone",
        actions: ["delete"],
        after: "null",
      }),
    ]);
    // changesV3 leaves the no-op out and types each change.
    expect(run.changesV3).toEqual([
      {
        resources: [
          {
            address: "aws_db_instance.main",
            previousAddress: "aws_db_instance.main",
            metadata: { type: "CHANGED" },
          },
          {
            address: "terraform_data.gone",
            previousAddress: "terraform_data.gone",
            metadata: { type: "DELETED" },
          },
        ],
      },
    ]);
  });

  it("refuses an invalid document naming the field, and ignores a superseded assignment", async () => {
    const { runId, assign } = await dispatched();
    const bad = await kit.call("PUT", planUrl(runId), kit.runToken(assign), {
      assignment: assign.assignment,
      document: {
        terraform_version: "1.10.10",
        resource_changes: [{ address: "x.y", type: "x", name: "y" }],
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.json().message).toContain(
      "document.resource_changes.0.provider_name",
    );

    const stale = await kit.call("PUT", planUrl(runId), kit.runToken(assign), {
      assignment: assign.assignment + 100,
      document: DOCUMENT,
    });
    expect(stale.status).toBe(200);
    expect(stale.json()).toMatchObject({ stored: false });
    expect(await kit.runs.plans?.readPlanDocument(runId)).toBeNull();

    const anonymous = await kit.call("PUT", planUrl(runId), null, {
      assignment: assign.assignment,
      document: DOCUMENT,
    });
    expect(anonymous.status).toBe(401);
  });

  it("answers an empty list for a run without a document", async () => {
    const { runId, stackId } = await dispatched();
    const res = await kit.graphql(RUN_PLAN, { stack: stackId, run: runId });
    expect(res.json).toMatchObject({
      data: { stack: { run: { stackyardPlanChanges: [], changesV3: [] } } },
    });
  });
});

describe("Worker.stackyardCurrentRun", () => {
  it("names the run a busy worker holds, and null once it is free", async () => {
    const { runId, stackId, workerId } = await dispatched();
    const q = `query($pool:ID!){workerPool(id: $pool){workers{id,busy,stackyardCurrentRun{id,stackId,state}}}}`;
    const busy = await kit.graphql(q, { pool: kit.defaultPoolId });
    const workers = (
      busy.json as {
        data: {
          workerPool: {
            workers: Array<{
              id: string;
              stackyardCurrentRun: unknown;
            }>;
          };
        };
      }
    ).data.workerPool.workers;
    expect(workers.find((w) => w.id === workerId)).toEqual({
      id: workerId,
      busy: true,
      stackyardCurrentRun: { id: runId, stackId, state: "PREPARING" },
    });

    await kit.runs.service.stop(ADMIN, { stackId, runId, note: "test" });
    await kit.t.db
      .updateTable("workers")
      .set({ status: "IDLE", current_run_id: null })
      .where("id", "=", workerId)
      .execute();
    const idle = await kit.graphql(q, { pool: kit.defaultPoolId });
    expect(JSON.stringify(idle.json)).not.toContain(runId);
  });
});
