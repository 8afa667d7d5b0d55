import {
  MAX_RUNTIME_CONFIG_YAML_CHARS,
  open,
  readonlyTopic,
  runAssignSchema,
  WORKER_API_PREFIX,
  type RunAssign,
} from "@stackyard/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { UnavailableError } from "../../platform/errors.ts";
import {
  createExecutionKit,
  NAMESPACE,
  waitFor,
  type ExecutionKit,
} from "../../../test/execution-kit.ts";
import { buildPool, buildStack } from "../../../test/factories.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";
import { createRunTokenSigner } from "./run-token.ts";

const SECRET = "s3cr3t-only-for-the-worker";
const SECRET_FILE = Buffer.from("file secret 42").toString("base64");

let kit: ExecutionKit;
beforeAll(async () => {
  kit = await createExecutionKit();
});
afterAll(async () => {
  await kit?.destroy();
});

const api = (runId: string, what: "logs" | "events" | "workspace") =>
  `${WORKER_API_PREFIX}/${runId}/${what}`;

async function stackWithConfig(
  overrides: Parameters<typeof buildStack>[1] = {},
) {
  const stack = await buildStack(kit.t.db, {
    tracked_commit_sha: "abc1234",
    repository_url: "https://git.example/acme/infra.git",
    manage_state: true,
    ...overrides,
  });
  await kit.stacks.addStackConfig(ADMIN, stack.id, {
    id: "TF_VAR_password",
    type: "ENVIRONMENT_VARIABLE",
    value: SECRET,
    writeOnly: true,
  });
  await kit.stacks.addStackConfig(ADMIN, stack.id, {
    id: "REGION",
    type: "ENVIRONMENT_VARIABLE",
    value: "eu-west-1",
    writeOnly: false,
  });
  await kit.stacks.addStackConfig(ADMIN, stack.id, {
    id: "secrets/key.txt",
    type: "FILE_MOUNT",
    value: SECRET_FILE,
    writeOnly: true,
  });
  return stack;
}

/** The assignments published for `runId` so far. */
function assignsOf(runId: string): RunAssign[] {
  return kit.published.flatMap((p) =>
    p.msg.type === "run.assign" && p.msg.runId === runId ? [p.msg] : [],
  );
}

async function nextAssign(runId: string, count: number): Promise<RunAssign> {
  return waitFor(() => assignsOf(runId)[count - 1], `run.assign #${count}`);
}

/** Triggers a run on a fresh worker and dispatches it; returns the run, worker and assignment. */
async function dispatched(
  opts: {
    stack?: Awaited<ReturnType<typeof buildStack>>;
    type?: "TRACKED" | "PROPOSED";
    task?: string;
    runtimeConfig?: unknown;
  } = {},
) {
  const stack = opts.stack ?? (await stackWithConfig());
  const worker = await kit.addWorker();
  const run = opts.task
    ? await kit.runs.service.createTask(ADMIN, {
        stackId: stack.id,
        command: opts.task,
      })
    : await kit.runs.service.trigger(ADMIN, {
        stackId: stack.id,
        runType: opts.type ?? "TRACKED",
        runtimeConfig: opts.runtimeConfig,
      });
  await kit.walk(run.id, ["READY"]);
  // Other tests' idle workers may take it; pin it to ours by draining the rest.
  await kit.t.db
    .updateTable("workers")
    .set({ drained: true })
    .where("id", "<>", worker.id)
    .execute();
  const pass = await kit.dispatcher.dispatch();
  await kit.t.db.updateTable("workers").set({ drained: false }).execute();
  expect(pass.dispatched).toContainEqual({
    runId: run.id,
    workerId: worker.id,
  });
  const assign = await nextAssign(run.id, 1);
  return { stack, run, worker, assign };
}

function event(
  runId: string,
  token: string,
  body: Record<string, unknown>,
): ReturnType<ExecutionKit["call"]> {
  return kit.call("POST", api(runId, "events"), token, body);
}

describe("pool keys and dispatch", () => {
  it("hands a READY run to an idle worker with run.assign, secrets sealed to the pool key", async () => {
    const { run, worker, assign } = await dispatched();
    const published = kit.published.find(
      (p) => p.msg.type === "run.assign" && p.msg.runId === run.id,
    );
    expect(published?.topic).toBe(
      readonlyTopic(NAMESPACE, kit.defaultPoolId, worker.id),
    );
    expect(runAssignSchema.parse(assign)).toBeTruthy();
    expect(published?.raw).not.toContain(SECRET);
    expect(published?.raw).not.toContain(SECRET_FILE);
    // The run token is sealed too: the message on the broker never carries a usable token.
    expect(assign.runToken.sealed).toBe(true);
    const token = kit.runToken(assign);
    expect(token.split(".")).toHaveLength(3);
    expect(published?.raw).not.toContain(token);
    expect(published?.raw).not.toContain(token.split(".")[2]);

    const row = await kit.run(run.id);
    expect(row).toMatchObject({
      state: "PREPARING",
      worker_id: worker.id,
      worker_assignment: row.state_version,
    });
    expect(assign.assignment).toBe(row.state_version);
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "BUSY",
      current_run_id: run.id,
    });

    const { spec } = assign;
    expect(spec).toMatchObject({
      runId: run.id,
      runType: "TRACKED",
      phase: "plan",
      repository: {
        url: "https://git.example/acme/infra.git",
        commitSha: "abc1234",
        branch: "main",
      },
      tool: { kind: "tofu", version: null },
      command: null,
      skipInit: false,
    });
    expect(assign.needsWorkspace).toBe(false);
    expect(spec.runtimeConfigYaml).toBeUndefined();
    expect(spec.computed.STACKYARD_API_URL).toBe("http://stackyard.test");
    const password = spec.environment.find((e) => e.name === "TF_VAR_password");
    expect(password).toMatchObject({ secret: true, value: { sealed: true } });
    expect(
      open(kit.poolPrivateKey, password?.value.value ?? "").toString(),
    ).toBe(SECRET);
    expect(spec.environment.find((e) => e.name === "REGION")).toEqual({
      name: "REGION",
      secret: false,
      value: { sealed: false, value: "eu-west-1" },
    });
    const file = spec.mountedFiles.find(
      (f) => f.relativePath === "secrets/key.txt",
    );
    expect(open(kit.poolPrivateKey, file?.content.value ?? "").toString()).toBe(
      SECRET_FILE,
    );
    expect(spec.stateBackend).toMatchObject({
      address: `http://stackyard.test/state/${run.stackId}`,
      password: { sealed: true },
    });
    // The sealed state password is a working credential of this run.
    const stateCreds = spec.stateBackend;
    const password2 = open(
      kit.poolPrivateKey,
      stateCreds?.password.value ?? "",
    ).toString();
    expect(password2.length).toBeGreaterThan(10);
  });

  it("retries run.assign while the broker is unreachable, so the run is not left to time out", async () => {
    const publish = vi
      .spyOn(kit.transport, "publish")
      .mockRejectedValueOnce(
        new UnavailableError("not connected to the MQTT broker"),
      )
      .mockRejectedValueOnce(
        new UnavailableError("not connected to the MQTT broker"),
      );
    try {
      const { run } = await dispatched();
      expect(publish).toHaveBeenCalledTimes(3);
      expect(
        kit.published.filter(
          (p) => p.msg.type === "run.assign" && p.msg.runId === run.id,
        ),
      ).toHaveLength(1);
    } finally {
      publish.mockRestore();
    }
  });

  it("hands one worker at most one run and each run to at most one worker when two passes race", async () => {
    await kit.t.db.updateTable("workers").set({ drained: true }).execute();
    const pool = await buildPool(kit.t.db, {
      public_key: kit.poolPublicKeyPem,
    });
    const worker = await kit.addWorker(pool.id);
    const runIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const stack = await stackWithConfig({ worker_pool_id: pool.id });
      const run = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
      await kit.walk(run.id, ["READY"]);
      runIds.push(run.id);
    }
    const passes = await Promise.all([
      kit.dispatcher.dispatch(),
      kit.dispatcher.dispatch(),
      kit.dispatcher.dispatch(),
    ]);
    const handed = passes.flatMap((p) => p.dispatched);
    expect(handed).toHaveLength(1);
    expect(handed[0]?.workerId).toBe(worker.id);
    const rows = await kit.t.db
      .selectFrom("runs")
      .select(["id", "state", "worker_id"])
      .where("id", "in", runIds)
      .execute();
    expect(rows.filter((r) => r.state === "PREPARING")).toHaveLength(1);
    expect(rows.filter((r) => r.state === "READY")).toHaveLength(4);
    const held = rows.find((r) => r.state === "PREPARING");
    expect(held?.worker_id).toBe(worker.id);
    expect((await kit.worker(worker.id)).current_run_id).toBe(held?.id);

    // More workers than before: every run lands on exactly one, distinct worker.
    const more = await Promise.all([1, 2, 3].map(() => kit.addWorker(pool.id)));
    const again = await Promise.all([
      kit.dispatcher.dispatch(),
      kit.dispatcher.dispatch(),
    ]);
    const second = again.flatMap((p) => p.dispatched);
    expect(second).toHaveLength(3);
    expect(new Set(second.map((d) => d.workerId))).toEqual(
      new Set(more.map((w) => w.id)),
    );
    expect(new Set(second.map((d) => d.runId)).size).toBe(3);
    await kit.t.db.updateTable("workers").set({ drained: false }).execute();
    // Leave no READY run behind for other tests' dispatch passes.
    for (const r of await kit.t.db
      .selectFrom("runs")
      .select("id")
      .where("state", "=", "READY")
      .execute())
      await kit.walk(r.id, ["CANCELED"]);
  });

  it("refuses a runtime configuration too long for the run message at trigger time, naming the field", async () => {
    const stack = await stackWithConfig();
    await expect(
      (async () =>
        kit.runs.service.trigger(ADMIN, {
          stackId: stack.id,
          runtimeConfig: {
            yaml: "#".repeat(MAX_RUNTIME_CONFIG_YAML_CHARS + 1),
          },
        }))(),
    ).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
      message: expect.stringMatching(/^runtimeConfig\.yaml is \d+ characters/),
    });
    expect(
      await kit.t.db
        .selectFrom("runs")
        .select("id")
        .where("stack_id", "=", stack.id)
        .execute(),
    ).toEqual([]);
  });

  it("refuses an invalid runtime configuration at trigger time, naming the field", async () => {
    const stack = await stackWithConfig();
    for (const [yaml, problem] of [
      ["version: [1\n", /^runtimeConfig\.yaml is not valid YAML: /],
      [
        "version: 1\nstack_defaults:\n  before_plan: echo\n",
        /^runtimeConfig\.yaml is invalid: stack_defaults\.before_plan: /,
      ],
      [
        "version: 3\n",
        /^runtimeConfig\.yaml is invalid: version: version must be 1 or 2/,
      ],
    ] as const) {
      await expect(
        (async () =>
          kit.runs.service.trigger(ADMIN, {
            stackId: stack.id,
            runtimeConfig: { yaml },
          }))(),
      ).rejects.toMatchObject({
        code: "BAD_USER_INPUT",
        message: expect.stringMatching(problem),
      });
    }
    expect(
      await kit.t.db
        .selectFrom("runs")
        .select("id")
        .where("stack_id", "=", stack.id)
        .execute(),
    ).toEqual([]);
  });

  it("fails a run whose pool has no public key, saying how to fix it", async () => {
    const pool = await buildPool(kit.t.db);
    await kit.addWorker(pool.id);
    const stack = await stackWithConfig({ worker_pool_id: pool.id });
    const run = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
    await kit.walk(run.id, ["READY"]);
    const pass = await kit.dispatcher.dispatch();
    expect(pass.failed).toContainEqual({
      runId: run.id,
      reason: expect.stringMatching(/has no public key.*workerPoolReset/),
    });
    expect(await kit.run(run.id)).toMatchObject({ state: "FAILED" });
  });
});

describe("worker API authentication", () => {
  it("refuses a missing, expired or foreign token, and a token of another worker", async () => {
    const a = await dispatched();
    const b = await dispatched();
    const body = {
      type: "state",
      assignment: a.assign.assignment,
      state: "INITIALIZING",
    };

    const none = await event(a.run.id, "", body);
    expect(none.status).toBe(401);
    expect(none.json().message).toMatch(/run token/);

    const wrongRun = await event(a.run.id, kit.runToken(b.assign), body);
    expect(wrongRun.status).toBe(403);
    expect(wrongRun.json().message).toMatch(
      new RegExp(`for run ${b.run.id}, not ${a.run.id}`),
    );

    const past = createRunTokenSigner({
      privateKey: kit.privateKey,
      issuer: "http://stackyard.test",
      now: () => Math.floor(Date.now() / 1000) - 7200,
    });
    const expired = await past.sign(
      { run: a.run.id, worker: a.worker.id, pool: kit.defaultPoolId },
      60,
    );
    expect((await event(a.run.id, expired, body)).status).toBe(401);

    const otherWorker = await kit.runTokens.sign(
      { run: a.run.id, worker: b.worker.id, pool: kit.defaultPoolId },
      600,
    );
    const foreign = await event(a.run.id, otherWorker, body);
    expect(foreign.status).toBe(403);
    expect(foreign.json().message).toMatch(/is not held by worker/);

    const garbage = await event(a.run.id, kit.runToken(a.assign), {
      type: "state",
      assignment: "one",
    });
    expect(garbage.status).toBe(400);
    expect(garbage.json().issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: ["assignment"] }),
      ]),
    );
    expect((await kit.run(a.run.id)).state).toBe("PREPARING");
  });
});

describe("logs", () => {
  it("stores chunks once, pages them with stable tokens, and finishes once the run left the state", async () => {
    const { run, assign } = await dispatched();
    const token = kit.runToken(assign);
    const chunk = (seq: number, text: string) =>
      kit.call("POST", api(run.id, "logs"), token, {
        assignment: assign.assignment,
        state: "INITIALIZING",
        seq,
        text,
      });
    // The chunk overtakes its state event: the run enters INITIALIZING for it.
    const first = await chunk(0, "line 0\n");
    expect(first.status).toBe(200);
    expect(first.json()).toMatchObject({ accepted: true, stored: true });
    expect((await chunk(0, "line 0\n")).json()).toMatchObject({
      stored: false,
    });
    await chunk(2, "line 2\n");
    const row = await kit.run(run.id);
    expect(row.state).toBe("INITIALIZING");
    const initVersion = row.state_version;

    const S18 =
      "query($run:ID!$stack:ID!$state:RunState!$stateVersion:Int!$token:String){stack(id: $stack){run(id: $run){logs(state: $state, token: $token, stateVersion: $stateVersion){exists,finished,hasMore,messages{message},nextToken}}}}";
    const logs = async (tok: string | null) => {
      const res = await kit.graphql(S18, {
        run: run.id,
        stack: run.stackId,
        state: "INITIALIZING",
        stateVersion: initVersion,
        token: tok,
      });
      return (
        res.json as {
          data: {
            stack: {
              run: {
                logs: {
                  exists: boolean;
                  finished: boolean;
                  hasMore: boolean;
                  messages: { message: string }[];
                  nextToken: string;
                };
              };
            };
          };
        }
      ).data.stack.run.logs;
    };
    // Live state: only the contiguous prefix is served; seq 2 waits for seq 1.
    const p1 = await logs(null);
    expect(p1).toMatchObject({
      exists: true,
      finished: false,
      hasMore: false,
      messages: [{ message: "line 0\n" }],
    });
    expect(p1.nextToken).toBeTruthy();
    const p2 = await logs(p1.nextToken);
    expect(p2).toMatchObject({ messages: [], finished: false });
    expect(p2.nextToken).toBe(p1.nextToken);
    await chunk(1, "line 1\n");
    const p3 = await logs(p2.nextToken);
    expect(p3.messages.map((m) => m.message)).toEqual(["line 1\n", "line 2\n"]);

    // history says INITIALIZING has logs while it is current and chunks exist.
    const S17 =
      "query($run:ID!$stack:ID!){stack(id: $stack){run(id: $run){history{hasLogs,state,stateVersion}}}}";
    const history = (
      await kit.graphql(S17, { run: run.id, stack: run.stackId })
    ).json as {
      data: {
        stack: { run: { history: { hasLogs: boolean; state: string }[] } };
      };
    };
    expect(
      history.data.stack.run.history.find((h) => h.state === "INITIALIZING")
        ?.hasLogs,
    ).toBe(true);
    expect(
      history.data.stack.run.history.find((h) => h.state === "PREPARING")
        ?.hasLogs,
    ).toBe(false);

    // Leaving the state finishes its stream once everything was served.
    await event(run.id, token, {
      type: "state",
      assignment: assign.assignment,
      state: "PLANNING",
    });
    const p4 = await logs(p3.nextToken);
    expect(p4).toMatchObject({ messages: [], finished: true, hasMore: false });
    expect(p4.nextToken).toBe(p3.nextToken);
  });

  it("archives the chunks of an ended run to one object per state and still serves them, late chunks included", async () => {
    const { run, assign } = await dispatched({ type: "PROPOSED" });
    const token = kit.runToken(assign);
    for (let seq = 0; seq < 3; seq++)
      await kit.call("POST", api(run.id, "logs"), token, {
        assignment: assign.assignment,
        state: "PLANNING",
        seq,
        text: `plan ${seq}\n`,
      });
    await event(run.id, token, {
      type: "result",
      assignment: assign.assignment,
      phase: "plan",
      ok: true,
      plan: null,
    });
    const ended = await kit.runs.service.getRun(ADMIN, {
      stackId: run.stackId,
      runId: run.id,
    });
    expect(ended?.state).toBe("FINISHED");
    const planVersion = (
      await kit.t.db
        .selectFrom("run_transitions")
        .select("state_version")
        .where("run_id", "=", run.id)
        .where("state", "=", "PLANNING")
        .executeTakeFirstOrThrow()
    ).state_version;

    kit.now.value = new Date(kit.now.value.getTime() + 6 * 60_000);
    try {
      expect(await kit.logs.archiveEnded()).toBeGreaterThanOrEqual(1);
    } finally {
      kit.now.value = new Date(kit.now.value.getTime() - 6 * 60_000);
    }
    const left = await kit.t.db
      .selectFrom("run_log_chunks")
      .select("seq")
      .where("run_id", "=", run.id)
      .execute();
    expect(left).toEqual([]);
    expect(
      await kit.storage.head("run-logs", `${run.id}/${planVersion}.ndjson`),
    ).not.toBeNull();
    // A retried chunk arriving after the archive is kept and merged.
    await kit.call("POST", api(run.id, "logs"), token, {
      assignment: assign.assignment,
      state: "PLANNING",
      seq: 3,
      text: "plan 3\n",
    });
    if (!ended) throw new Error("run missing");
    const page = await kit.logs.read(ended, {
      state: "PLANNING",
      stateVersion: planVersion,
      token: null,
      left: true,
    });
    expect(page.messages.map((m) => m.message)).toEqual([
      "plan 0\n",
      "plan 1\n",
      "plan 2\n",
      "plan 3\n",
    ]);
    expect(page.finished).toBe(true);
  });
});

describe("the event flow", () => {
  it("tracked: plan with changes → UNCONFIRMED (worker freed), confirm → apply on a worker with the workspace → FINISHED", async () => {
    const yaml =
      "version: 1\nstack_defaults:\n  environment:\n    TF_VAR_x: y\n";
    const { run, worker, assign } = await dispatched({
      runtimeConfig: { yaml },
    });
    // The run's runtime configuration goes with both phases.
    expect(assign.spec.runtimeConfigYaml).toBe(yaml);
    const token = kit.runToken(assign);
    const a = assign.assignment;
    expect(
      (
        await event(run.id, token, {
          type: "state",
          assignment: a,
          state: "INITIALIZING",
        })
      ).json(),
    ).toMatchObject({ accepted: true, state: "INITIALIZING" });
    // A state already passed is acknowledged and ignored.
    expect(
      (
        await event(run.id, token, {
          type: "state",
          assignment: a,
          state: "INITIALIZING",
        })
      ).json(),
    ).toMatchObject({ accepted: false, state: "INITIALIZING" });
    await event(run.id, token, {
      type: "state",
      assignment: a,
      state: "PLANNING",
    });
    const put = await kit.call(
      "PUT",
      api(run.id, "workspace"),
      token,
      "sb1.sealed.workspace",
    );
    expect(put.status).toBe(204);
    const planned = await event(run.id, token, {
      type: "result",
      assignment: a,
      phase: "plan",
      ok: true,
      plan: {
        hasChanges: true,
        add: 1,
        change: 0,
        destroy: 0,
        resources: [
          {
            address: "aws_s3_bucket.b",
            actions: ["create"],
            before: null,
            after: { bucket: "b" },
          },
        ],
        outputs: [],
      },
    });
    expect(planned.json()).toMatchObject({
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
    });

    const S35 =
      "query($stack:ID!$run:ID!){stack(id: $stack){run(id: $run){delta{addCount,changeCount,deleteCount,resources},changesV3(input: {}){resources{address,metadata{type}}}}}}";
    const shown = await kit.graphql(S35, { stack: run.stackId, run: run.id });
    expect(shown.json).toMatchObject({
      data: {
        stack: {
          run: {
            delta: {
              addCount: 1,
              changeCount: 0,
              deleteCount: 0,
              resources: 1,
            },
            changesV3: [
              {
                resources: [
                  { address: "aws_s3_bucket.b", metadata: { type: "ADDED" } },
                ],
              },
            ],
          },
        },
      },
    });

    await kit.runs.service.confirm(ADMIN, {
      stackId: run.stackId,
      runId: run.id,
    });
    await kit.dispatcher.dispatch();
    const apply = await nextAssign(run.id, 2);
    expect(apply).toMatchObject({
      needsWorkspace: true,
      spec: { phase: "apply", runtimeConfigYaml: yaml },
    });
    expect(apply.assignment).toBeGreaterThan(a);
    expect((await kit.run(run.id)).state).toBe("PREPARING_APPLY");
    const applyWorker = (await kit.run(run.id)).worker_id ?? "";

    // The old assignment's token and reports no longer count.
    const stale = await event(run.id, kit.runToken(apply), {
      type: "result",
      assignment: a,
      phase: "plan",
      ok: true,
    });
    expect(stale.json()).toMatchObject({ accepted: false });

    const ws = await kit.call(
      "GET",
      api(run.id, "workspace"),
      kit.runToken(apply),
    );
    expect(ws).toMatchObject({ status: 200, body: "sb1.sealed.workspace" });
    await event(run.id, kit.runToken(apply), {
      type: "state",
      assignment: apply.assignment,
      state: "APPLYING",
    });
    const done = await event(run.id, kit.runToken(apply), {
      type: "result",
      assignment: apply.assignment,
      phase: "apply",
      ok: true,
    });
    expect(done.json()).toMatchObject({ accepted: true, state: "FINISHED" });
    expect(await kit.worker(applyWorker)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
    const jobs = await kit.t.db
      .selectFrom("queue_messages")
      .select("name")
      .where("name", "in", ["runs.schedule", "runs.dispatch"])
      .execute();
    expect(new Set(jobs.map((j) => j.name))).toEqual(
      new Set(["runs.schedule", "runs.dispatch"]),
    );
  });

  it("autodeploy: the same worker gets the apply right after the plan", async () => {
    const stack = await stackWithConfig({ autodeploy: true });
    const { run, worker, assign } = await dispatched({ stack });
    const planned = await event(run.id, kit.runToken(assign), {
      type: "result",
      assignment: assign.assignment,
      phase: "plan",
      ok: true,
      plan: {
        hasChanges: true,
        add: 0,
        change: 1,
        destroy: 0,
        resources: [],
        outputs: [],
      },
    });
    expect(planned.json()).toMatchObject({ accepted: true, state: "APPLYING" });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "BUSY",
      current_run_id: run.id,
    });
    const apply = await nextAssign(run.id, 2);
    expect(apply).toMatchObject({
      needsWorkspace: true,
      spec: { phase: "apply" },
    });
    expect(apply.assignment).toBe((await kit.run(run.id)).state_version);
    expect(
      kit.published.filter(
        (p) => p.msg.type === "run.assign" && p.msg.runId === run.id,
      )[1]?.topic,
    ).toBe(readonlyTopic(NAMESPACE, kit.defaultPoolId, worker.id));
    // The apply's APPLYING was already entered: acknowledged, ignored.
    expect(
      (
        await event(run.id, kit.runToken(apply), {
          type: "state",
          assignment: apply.assignment,
          state: "APPLYING",
        })
      ).json(),
    ).toMatchObject({ accepted: false, state: "APPLYING" });
    const done = await event(run.id, kit.runToken(apply), {
      type: "result",
      assignment: apply.assignment,
      phase: "apply",
      ok: true,
    });
    expect(done.json()).toMatchObject({ state: "FINISHED" });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
  });

  it("proposed runs read state only and finish after the plan", async () => {
    const { run, worker, assign } = await dispatched({ type: "PROPOSED" });
    expect(assign.spec.stateBackend?.username).toBeTruthy();
    const res = await event(run.id, kit.runToken(assign), {
      type: "result",
      assignment: assign.assignment,
      phase: "plan",
      ok: true,
      plan: {
        hasChanges: true,
        add: 2,
        change: 0,
        destroy: 0,
        resources: [],
        outputs: [],
      },
    });
    expect(res.json()).toMatchObject({ state: "FINISHED" });
    expect(await kit.worker(worker.id)).toMatchObject({ status: "IDLE" });
  });

  it("a tracked plan without changes finishes", async () => {
    const { run, assign } = await dispatched();
    const res = await event(run.id, kit.runToken(assign), {
      type: "result",
      assignment: assign.assignment,
      phase: "plan",
      ok: true,
      plan: {
        hasChanges: false,
        add: 0,
        change: 0,
        destroy: 0,
        resources: [],
        outputs: [],
      },
    });
    expect(res.json()).toMatchObject({ state: "FINISHED" });
  });

  it("a failed phase fails the run with the worker's reason and frees the worker", async () => {
    const { run, worker, assign } = await dispatched({ task: "echo hi" });
    expect(assign.spec).toMatchObject({ phase: "perform", command: "echo hi" });
    await event(run.id, kit.runToken(assign), {
      type: "state",
      assignment: assign.assignment,
      state: "PERFORMING",
    });
    const res = await event(run.id, kit.runToken(assign), {
      type: "result",
      assignment: assign.assignment,
      phase: "perform",
      ok: false,
      failureReason: "exit status 2",
    });
    expect(res.json()).toMatchObject({ state: "FAILED" });
    expect(await kit.run(run.id)).toMatchObject({
      failure_reason: "exit status 2",
    });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
    // A result for the wrong phase of a live run is refused with 409 (the worker is wrong).
    const other = await dispatched();
    const wrong = await event(other.run.id, kit.runToken(other.assign), {
      type: "result",
      assignment: other.assign.assignment,
      phase: "perform",
      ok: true,
    });
    expect(wrong.status).toBe(409);
  });

  it("stop: the worker is told with run.stop, and its late result frees it", async () => {
    const { run, worker, assign } = await dispatched();
    await event(run.id, kit.runToken(assign), {
      type: "state",
      assignment: assign.assignment,
      state: "PLANNING",
    });
    await kit.runs.service.stop(ADMIN, {
      stackId: run.stackId,
      runId: run.id,
      note: "enough",
    });
    const stop = await waitFor(
      () =>
        kit.published.find(
          (p) => p.msg.type === "run.stop" && p.msg.runId === run.id,
        ),
      "run.stop",
    );
    expect(stop.topic).toBe(
      readonlyTopic(NAMESPACE, kit.defaultPoolId, worker.id),
    );
    expect(await kit.worker(worker.id)).toMatchObject({
      current_run_id: run.id,
    });
    const res = await event(run.id, kit.runToken(assign), {
      type: "result",
      assignment: assign.assignment,
      phase: "plan",
      ok: false,
      stopped: true,
    });
    expect(res.json()).toMatchObject({ accepted: false, state: "STOPPED" });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
  });
});

describe("recovery", () => {
  it("fails the run of a lost worker, and the stack's next run goes to another worker", async () => {
    const { stack, run, worker } = await dispatched();
    const next = await kit.runs.service.trigger(ADMIN, { stackId: stack.id });
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
      failure_reason: expect.stringMatching(/was lost: no heartbeat/),
    });
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "GONE",
      current_run_id: null,
    });

    const fresh = await kit.addWorker();
    await kit.t.db
      .updateTable("workers")
      .set({ drained: true })
      .where("id", "<>", fresh.id)
      .execute();
    await kit.runs.scheduler.schedule();
    const pass = await kit.dispatcher.dispatch();
    await kit.t.db.updateTable("workers").set({ drained: false }).execute();
    expect(pass.dispatched).toContainEqual({
      runId: next.id,
      workerId: fresh.id,
    });
  });

  it("fails a run whose worker never picked it up within 60 s and frees the worker", async () => {
    const { run, worker } = await dispatched();
    const at = kit.now.value;
    kit.now.value = new Date(at.getTime() + 30_000);
    expect(
      (await kit.runs.reconciler.reconcile()).map((f) => f.runId),
    ).not.toContain(run.id);
    kit.now.value = new Date(at.getTime() + 61_000);
    try {
      const failed = await kit.runs.reconciler.reconcile();
      expect(failed).toContainEqual({
        runId: run.id,
        reason: expect.stringMatching(/the worker did not pick up the run/),
      });
    } finally {
      kit.now.value = at;
    }
    expect(await kit.worker(worker.id)).toMatchObject({
      status: "IDLE",
      current_run_id: null,
    });
  });
});

describe("secrets", () => {
  it("never shows a write-only value in GraphQL answers about the run", async () => {
    const { run, assign } = await dispatched();
    await kit.call("POST", api(run.id, "logs"), kit.runToken(assign), {
      assignment: assign.assignment,
      state: "INITIALIZING",
      seq: 0,
      text: "init ***\n",
    });
    const res = await kit.graphql(
      "query($stack:ID!$run:ID!){stack(id: $stack){config{id,value,writeOnly},run(id: $run){id,state,delta{addCount},history{state,note,hasLogs},logs(state: INITIALIZING){messages{message}}}}}",
      { stack: run.stackId, run: run.id },
    );
    expect(res.body).toContain(run.id);
    expect(res.body).not.toContain(SECRET);
    expect(res.body).not.toContain(SECRET_FILE);
  });
});
