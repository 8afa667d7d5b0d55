import { WORKER_API_PREFIX, type RunAssign } from "@stackyard/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createExecutionKit,
  waitFor,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";

// Targeted replan through the run engine: REPLAN_REQUESTED is dispatched like READY (a
// plan phase, with the targets in the spec), the worker's reports walk the run through
// PREPARING_REPLAN → PLANNING → UNCONFIRMED, and the replanned workspace is the one a
// later confirm applies. The reconciler covers the replan hand-over like any other.

let kit: ExecutionKit;
beforeAll(async () => {
  kit = await createExecutionKit();
});
afterAll(async () => {
  await kit?.destroy();
});

const api = (runId: string, what: "logs" | "events" | "workspace" | "plan") =>
  `${WORKER_API_PREFIX}/${runId}/${what}`;

/** spacectl's S41 (graphql-compat.md), byte for byte. */
const S41 = `mutation($run: ID!, $stack: ID!, $targets: [String!]!) {
  runTargetedReplan(stack: $stack, run: $run, targets: $targets) { id }
}`;

function assignsOf(runId: string): RunAssign[] {
  return kit.published.flatMap((p) =>
    p.msg.type === "run.assign" && p.msg.runId === runId ? [p.msg] : [],
  );
}

function nextAssign(runId: string, count: number): Promise<RunAssign> {
  return waitFor(() => assignsOf(runId)[count - 1], `run.assign #${count}`);
}

/** One dispatch pass in which only `workerId` may take runs. */
async function dispatchTo(workerId: string) {
  await kit.t.db
    .updateTable("workers")
    .set({ drained: true })
    .where("id", "<>", workerId)
    .execute();
  try {
    return await kit.dispatcher.dispatch();
  } finally {
    await kit.t.db.updateTable("workers").set({ drained: false }).execute();
  }
}

function event(runId: string, token: string, body: Record<string, unknown>) {
  return kit.call("POST", api(runId, "events"), token, body);
}

const change = (address: string) => ({
  address,
  actions: ["create"],
  before: null,
  after: { input: address },
});

function planResult(assignment: number, addresses: string[]) {
  return {
    type: "result",
    assignment,
    phase: "plan",
    ok: true,
    plan: {
      hasChanges: true,
      add: addresses.length,
      change: 0,
      destroy: 0,
      resources: addresses.map(change),
      outputs: [],
    },
  };
}

function planDocument(assignment: number, addresses: string[]) {
  return {
    assignment,
    document: {
      terraform_version: "1.9.0",
      resource_changes: addresses.map((address) => ({
        address,
        mode: "managed",
        type: "terraform_data",
        name: address.split(".")[1],
        provider_name: "terraform.io/builtin/terraform",
        change: { actions: ["create"], before: null, after: {} },
      })),
    },
  };
}

/** A tracked run planned with two resources, waiting in UNCONFIRMED; its worker is idle again. */
async function unconfirmedRun() {
  const stack = await buildStack(kit.t.db, {
    tracked_commit_sha: "abc1234",
    repository_url: "https://git.example/acme/infra.git",
    manage_state: true,
  });
  const worker = await kit.addWorker();
  const run = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
  await kit.walk(run.id, ["READY"]);
  expect((await dispatchTo(worker.id)).dispatched).toContainEqual({
    runId: run.id,
    workerId: worker.id,
  });
  const plan = await nextAssign(run.id, 1);
  const both = ["terraform_data.a", "terraform_data.b"];
  await event(run.id, kit.runToken(plan), {
    type: "state",
    assignment: plan.assignment,
    state: "PLANNING",
  });
  await kit.call(
    "PUT",
    api(run.id, "workspace"),
    kit.runToken(plan),
    "sb1.first-plan",
  );
  await kit.call(
    "PUT",
    api(run.id, "plan"),
    kit.runToken(plan),
    planDocument(plan.assignment, both),
  );
  const planned = await event(
    run.id,
    kit.runToken(plan),
    planResult(plan.assignment, both),
  );
  expect(planned.json()).toMatchObject({ state: "UNCONFIRMED" });
  return { stack, run, worker, plan };
}

async function requestReplan(
  run: { id: string; stackId: string },
  targets: string[],
) {
  return kit.graphql(S41, { stack: run.stackId, run: run.id, targets });
}

/** The first GraphQL error's message. */
function messageOf(json: unknown): string {
  const errors = (json as { errors?: { message: string }[] }).errors;
  return errors?.[0]?.message ?? `no error in ${JSON.stringify(json)}`;
}

describe("targeted replan", () => {
  it("plans again on a worker with the targets, in PREPARING_REPLAN, and a confirm applies the replanned workspace", async () => {
    const { run, worker, plan } = await unconfirmedRun();

    const asked = await requestReplan(run, ["terraform_data.a"]);
    expect(asked.json).toEqual({
      data: { runTargetedReplan: { id: run.id } },
    });
    expect(await kit.run(run.id)).toMatchObject({
      state: "REPLAN_REQUESTED",
      replan_targets: ["terraform_data.a"],
    });

    expect((await dispatchTo(worker.id)).dispatched).toContainEqual({
      runId: run.id,
      workerId: worker.id,
    });
    const replan = await nextAssign(run.id, 2);
    expect(replan).toMatchObject({
      needsWorkspace: false,
      spec: { phase: "plan", replanTargets: ["terraform_data.a"] },
    });
    expect(replan.assignment).toBeGreaterThan(plan.assignment);
    expect(await kit.run(run.id)).toMatchObject({
      state: "PREPARING_REPLAN",
      worker_id: worker.id,
      worker_assignment: replan.assignment,
    });

    // Checkout and init are logged in PREPARING_REPLAN, then the run plans.
    const chunk = await kit.call(
      "POST",
      api(run.id, "logs"),
      kit.runToken(replan),
      {
        assignment: replan.assignment,
        state: "PREPARING_REPLAN",
        seq: 0,
        text: "[stackyard] running tofu init\n",
      },
    );
    expect(chunk.json()).toMatchObject({ accepted: true, stored: true });
    // The first plan's reports no longer count.
    const stale = await event(
      run.id,
      kit.runToken(replan),
      planResult(plan.assignment, ["terraform_data.b"]),
    );
    expect(stale.json()).toMatchObject({ accepted: false });
    expect(
      (
        await event(run.id, kit.runToken(replan), {
          type: "state",
          assignment: replan.assignment,
          state: "PLANNING",
        })
      ).json(),
    ).toMatchObject({ accepted: true, state: "PLANNING" });
    expect(
      (
        await kit.call(
          "PUT",
          api(run.id, "workspace"),
          kit.runToken(replan),
          "sb1.replanned",
        )
      ).status,
    ).toBe(204);
    await kit.call(
      "PUT",
      api(run.id, "plan"),
      kit.runToken(replan),
      planDocument(replan.assignment, ["terraform_data.a"]),
    );
    const replanned = await event(
      run.id,
      kit.runToken(replan),
      planResult(replan.assignment, ["terraform_data.a"]),
    );
    expect(replanned.json()).toMatchObject({
      accepted: true,
      state: "UNCONFIRMED",
    });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
    expect((await kit.run(run.id)).delta).toMatchObject({
      addCount: 1,
      resources: 1,
      changes: [{ address: "terraform_data.a", actions: ["create"] }],
    });
    const shown = await kit.graphql(
      "query($stack:ID!$run:ID!){stack(id: $stack){run(id: $run){changesV3(input: {}){resources{address}}}}}",
      { stack: run.stackId, run: run.id },
    );
    expect(shown.json).toMatchObject({
      data: {
        stack: {
          run: {
            changesV3: [{ resources: [{ address: "terraform_data.a" }] }],
          },
        },
      },
    });
    const states = (
      await kit.t.db
        .selectFrom("run_transitions")
        .select("state")
        .where("run_id", "=", run.id)
        .orderBy("state_version")
        .execute()
    ).map((t) => t.state);
    expect(states.slice(states.indexOf("UNCONFIRMED"))).toEqual([
      "UNCONFIRMED",
      "REPLAN_REQUESTED",
      "PREPARING_REPLAN",
      "PLANNING",
      "UNCONFIRMED",
    ]);

    await kit.runs.service.confirm(ADMIN, {
      stackId: run.stackId,
      runId: run.id,
    });
    await dispatchTo(worker.id);
    const apply = await nextAssign(run.id, 3);
    expect(apply).toMatchObject({
      needsWorkspace: true,
      spec: { phase: "apply" },
    });
    expect(apply.spec.replanTargets).toBeUndefined();
    const ws = await kit.call(
      "GET",
      api(run.id, "workspace"),
      kit.runToken(apply),
    );
    expect(ws).toMatchObject({ status: 200, body: "sb1.replanned" });
    const done = await event(run.id, kit.runToken(apply), {
      type: "result",
      assignment: apply.assignment,
      phase: "apply",
      ok: true,
    });
    expect(done.json()).toMatchObject({ accepted: true, state: "FINISHED" });
  });

  it("refuses targets that are not resource addresses, naming them, and leaves the run as it was", async () => {
    const { run } = await unconfirmedRun();
    for (const bad of ["-destroy", "terraform_data.a; rm -rf /", "a b.c"]) {
      const answer = await requestReplan(run, ["terraform_data.a", bad]);
      expect(messageOf(answer.json)).toContain(
        `${JSON.stringify(bad)} is not a resource address`,
      );
    }
    const none = await requestReplan(run, []);
    expect(messageOf(none.json)).toContain("at least one resource address");
    expect(await kit.run(run.id)).toMatchObject({
      state: "UNCONFIRMED",
      replan_targets: null,
    });
  });

  it("fails a replan the worker never picked up within 60 s, and frees the worker", async () => {
    const { run, worker } = await unconfirmedRun();
    await requestReplan(run, ["terraform_data.b"]);
    // Waiting for a worker is not stuck: the reconciler leaves REPLAN_REQUESTED alone.
    const at = kit.now.value;
    try {
      kit.now.value = new Date(at.getTime() + 3600_000);
      expect(
        (await kit.runs.reconciler.reconcile()).map((f) => f.runId),
      ).not.toContain(run.id);
    } finally {
      kit.now.value = at;
    }
    await dispatchTo(worker.id);
    expect((await kit.run(run.id)).state).toBe("PREPARING_REPLAN");
    try {
      kit.now.value = new Date(at.getTime() + 30_000);
      expect(
        (await kit.runs.reconciler.reconcile()).map((f) => f.runId),
      ).not.toContain(run.id);
      kit.now.value = new Date(at.getTime() + 61_000);
      expect(await kit.runs.reconciler.reconcile()).toContainEqual({
        runId: run.id,
        reason: expect.stringMatching(/the worker did not pick up the run/),
      });
    } finally {
      kit.now.value = at;
    }
    expect(await kit.run(run.id)).toMatchObject({ state: "FAILED" });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
  });

  it("once the worker reported, a replan's init is governed by the silence timeout, not the pickup timeout", async () => {
    const { run, worker } = await unconfirmedRun();
    await requestReplan(run, ["terraform_data.a"]);
    await dispatchTo(worker.id);
    const replan = await nextAssign(run.id, 2);
    const at = kit.now.value;
    try {
      kit.now.value = new Date(at.getTime() + 2_000);
      const chunk = await kit.call(
        "POST",
        api(run.id, "logs"),
        kit.runToken(replan),
        {
          assignment: replan.assignment,
          state: "PREPARING_REPLAN",
          seq: 0,
          text: "[stackyard] running tofu init\n",
        },
      );
      expect(chunk.json()).toMatchObject({ stored: true });
      // A long, quiet provider download: still within the silence timeout (420 s).
      kit.now.value = new Date(at.getTime() + 300_000);
      expect(
        (await kit.runs.reconciler.reconcile()).map((f) => f.runId),
      ).not.toContain(run.id);
      expect((await kit.run(run.id)).state).toBe("PREPARING_REPLAN");
      kit.now.value = new Date(at.getTime() + 2_000 + 421_000);
      expect(await kit.runs.reconciler.reconcile()).toContainEqual({
        runId: run.id,
        reason: expect.stringMatching(/no activity from the worker/),
      });
    } finally {
      kit.now.value = at;
    }
  });

  it("fails a replan whose worker is lost", async () => {
    const { run, worker } = await unconfirmedRun();
    await requestReplan(run, ["terraform_data.a"]);
    await dispatchTo(worker.id);
    expect((await kit.run(run.id)).state).toBe("PREPARING_REPLAN");
    await kit.t.db
      .updateTable("workers")
      .set({ last_heartbeat_at: new Date(kit.now.value.getTime() - 60_000) })
      .where("id", "=", worker.id)
      .execute();
    await kit.t.db
      .updateTable("workers")
      .set({ last_heartbeat_at: kit.now.value })
      .where("id", "<>", worker.id)
      .execute();
    expect(await kit.workers.expireWorkers(kit.now.value)).toContain(worker.id);
    expect(await kit.run(run.id)).toMatchObject({
      state: "FAILED",
      failure_reason: expect.stringMatching(/was lost/),
    });
  });
});
