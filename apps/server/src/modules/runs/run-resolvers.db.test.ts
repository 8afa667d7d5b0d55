import { generateKeyPairSync } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildStack, buildWorker } from "../../../test/factories.ts";
import { createRunKit, silentLog, type RunKit } from "../../../test/run-kit.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";
import { registerGraphQL } from "../../api/graphql.ts";
import {
  authResolvers,
  createAuthService,
  createTokenSigner,
} from "../auth/index.ts";
import { stackLoader, stackResolvers } from "../stacks/index.ts";
import { createWorkerService, workerResolvers } from "../workers/index.ts";
import { runResolvers } from "./run-resolvers.ts";

/**
 * The spacectl operations of graphql-compat.md §2.4, §2.5, §2.8 and §2.10, sent as the
 * client sends them: anonymous, minified, variables sorted, fragments inlined.
 */
const S06 = "query($runId:ID!){runStack(runId: $runId){id,name}}";
const S10 =
  "mutation($forceApply:ForceApplyMode$runtimeConfig:RuntimeConfigInput$sha:String$stack:ID!$type:RunType){runTrigger(stack: $stack, commitSha: $sha, runType: $type, runtimeConfig: $runtimeConfig, forceApply: $forceApply){id}}";
const S11 =
  "mutation($run:ID!$stack:ID!){runConfirm(stack: $stack, run: $run){id}}";
const S12 =
  "mutation($run:ID!$stack:ID!){runDiscard(stack: $stack, run: $run){id}}";
const S13 =
  "mutation($run:ID!$stack:ID!){runRetry(stack: $stack, run: $run){id}}";
const S14 =
  "mutation($run:ID!$stack:ID!){runCancel(stack: $stack, run: $run){id}}";
const S15 =
  "mutation($note:String!$run:ID!$stack:ID!){runStop(stack: $stack, run: $run, note: $note){id}}";
const S16 =
  "query($before:ID$stackId:ID!){stack(id: $stackId){runs(before: $before){id}}}";
const S17 =
  "query($run:ID!$stack:ID!){stack(id: $stack){run(id: $run){history{hasLogs,note,state,stateVersion,terminal,timestamp,username}}}}";
const S18 =
  "query($run:ID!$stack:ID!$state:RunState!$stateVersion:Int!$token:String){stack(id: $stack){run(id: $run){logs(state: $state, token: $token, stateVersion: $stateVersion){exists,finished,hasMore,messages{message},nextToken}}}}";
const S33 =
  "mutation($command:String!$noinit:Boolean$stack:ID!){taskCreate(stack: $stack, command: $command, skipInitialization: $noinit){id}}";
const S34 =
  "query($before:ID$stackId:ID!){stack(id: $stackId){tasks(before: $before){id,command,commit{hash,url},createdAt,state,triggeredBy,type}}}";
const S35 =
  "query($before:ID$stackId:ID!){stack(id: $stackId){runs(before: $before){id,branch,canRetry,comments{body,createdAt,username},commit{authorLogin,authorName,hash},createdAt,delta{addCount,changeCount,deleteCount,resources},driftDetection,expired,isMostRecent,needsApproval,state,title,triggeredBy}}}";
const S46 =
  "{workerPools{id,name,description,pendingRuns,busyWorkers,workers{id}}}";
const S47 =
  "query($workerPool:ID!){workerPool(id: $workerPool){workers{id,busy,drained,metadata}}}";
const S48 =
  "mutation($drain:Boolean!$worker:ID!$workerPool:ID!){workerDrainSet(workerPool: $workerPool, id: $worker, drain: $drain){id}}";
const S49 =
  "query($workerPool:ID!){workerPool(id: $workerPool){workers{id,drained,busy}}}";

let kit: RunKit;
let app: FastifyInstance;
let token: string;
let stackId: string;
let workerId: string;

beforeAll(async () => {
  kit = await createRunKit();
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const signer = createTokenSigner({
    privateKey,
    issuer: "http://stackyard.test",
    audience: "http://stackyard.test",
  });
  const auth = createAuthService({
    db: kit.t.db,
    signer,
    admin: { username: null, password: null },
  });
  const workers = createWorkerService({
    db: kit.t.db,
    transport: { publish: async () => {}, subscribe: async () => {} },
    clock: () => kit.now.value,
    log: silentLog,
    heartbeatTimeoutSeconds: 30,
    namespace: "stackyard",
    serverUrl: "http://stackyard.test",
    brokerEndpoint: "127.0.0.1:1984",
  });
  const stackApi = stackResolvers(kit.stacks.stacks);
  app = Fastify();
  await registerGraphQL(app, {
    auth,
    log: silentLog,
    resolvers: [
      authResolvers(auth),
      stackApi,
      runResolvers({
        runs: kit.runs.service,
        resolveStack: stackLoader(kit.stacks.stacks),
      }),
      workerResolvers({
        workers,
        runs: kit.runs.service,
        access: kit.stacks.access,
      }),
    ],
  });
  await app.ready();
  ({ token } = await signer.sign(
    { sub: "user:admin:admin", name: "admin", admin: true },
    3600,
  ));
  stackId = (
    await buildStack(kit.t.db, {
      name: "Network",
      tracked_commit_sha: "abc1234",
      tracked_commit_author: "ada",
    })
  ).id;
  workerId = (
    await buildWorker(kit.t.db, {
      worker_pool_id: kit.defaultPoolId,
      metadata: JSON.stringify({ host: "w1", az: "b" }),
    })
  ).id;
});
afterAll(async () => {
  await app?.close();
  await kit?.destroy();
});

async function gql(query: string, variables?: Record<string, unknown>) {
  const res = await app.inject({
    method: "POST",
    url: "/graphql",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    },
    payload: variables ? { query, variables } : { query },
  });
  expect(res.statusCode).toBe(200);
  return res.json() as {
    // Response shapes differ per operation; each test asserts the exact JSON.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    data?: Record<string, any>;
    errors?: { message: string }[];
  };
}

async function processScheduleJob() {
  await kit.runs.jobs["runs.schedule"]!.handler(
    {},
    { jobId: "1", attempt: 1, log: silentLog },
  );
}

async function trigger(
  type: "TRACKED" | "PROPOSED" = "TRACKED",
): Promise<string> {
  kit.now.value = new Date(kit.now.value.getTime() + 1000);
  const res = await gql(S10, {
    forceApply: null,
    runtimeConfig: null,
    sha: null,
    stack: stackId,
    type,
  });
  expect(res.errors).toBeUndefined();
  return res.data!.runTrigger.id;
}

describe("spacectl run operations", () => {
  it("S10 triggers a run that reaches READY once scheduled, S17 shows its history newest first, S14 cancels it", async () => {
    const runId = await trigger();
    await processScheduleJob();
    const history = await gql(S17, { run: runId, stack: stackId });
    expect(history).toEqual({
      data: {
        stack: {
          run: {
            history: [
              {
                hasLogs: false,
                note: expect.stringMatching(
                  /^A worker of pool .* is free.*\. Waiting: a worker of pool "default"/,
                ),
                state: "READY",
                stateVersion: 2,
                terminal: false,
                timestamp: Math.floor(kit.now.value.getTime() / 1000),
                username: null,
              },
              {
                hasLogs: false,
                note: "Triggered by admin",
                state: "QUEUED",
                stateVersion: 1,
                terminal: false,
                timestamp: Math.floor(kit.now.value.getTime() / 1000),
                username: "admin",
              },
            ],
          },
        },
      },
    });
    expect(await gql(S14, { run: runId, stack: stackId })).toEqual({
      data: { runCancel: { id: runId } },
    });
    const after = await gql(S17, { run: runId, stack: stackId });
    expect(after.data!.stack.run.history[0]).toMatchObject({
      state: "CANCELED",
      stateVersion: 3,
      terminal: true,
    });
    // S18: the READY state has been left, so log streaming ends at once.
    expect(
      await gql(S18, {
        run: runId,
        stack: stackId,
        state: "READY",
        stateVersion: 2,
        token: null,
      }),
    ).toEqual({
      data: {
        stack: {
          run: {
            logs: {
              exists: false,
              finished: true,
              hasMore: false,
              messages: [],
              nextToken: "",
            },
          },
        },
      },
    });
  });

  it("S11 confirms, S12 discards, S15 stops and S13 retries", async () => {
    const confirmMe = await trigger();
    await kit.walk(
      { id: confirmMe },
      ["READY", "PREPARING", "INITIALIZING", "PLANNING", "UNCONFIRMED"],
      workerId,
    );
    expect(await gql(S11, { run: confirmMe, stack: stackId })).toEqual({
      data: { runConfirm: { id: confirmMe } },
    });
    await kit.walk(
      { id: confirmMe },
      ["PREPARING_APPLY", "APPLYING", "FINISHED"],
      workerId,
    );

    const discardMe = await trigger();
    expect(await gql(S12, { run: discardMe, stack: stackId })).toEqual({
      data: { runDiscard: { id: discardMe } },
    });

    const stopMe = await trigger();
    await kit.walk(
      { id: stopMe },
      ["READY", "PREPARING", "INITIALIZING", "PLANNING"],
      workerId,
    );
    expect(
      await gql(S15, {
        note: "Stopped by spacectl",
        run: stopMe,
        stack: stackId,
      }),
    ).toEqual({
      data: { runStop: { id: stopMe } },
    });

    const retried = await gql(S13, { run: stopMe, stack: stackId });
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.runRetry.id).not.toBe(stopMe);

    const refused = await gql(S11, { run: discardMe, stack: stackId });
    expect(refused.data).toBeNull();
    expect(refused.errors?.[0]?.message).toMatch(
      /is in state DISCARDED; "confirm" is allowed only in UNCONFIRMED/,
    );
  });

  it("S06 resolves a run's stack and says exactly `not found` for an unknown run; S16 and S35 list newest first", async () => {
    const runId = await trigger();
    expect(await gql(S06, { runId })).toEqual({
      data: { runStack: { id: stackId, name: "Network" } },
    });
    const missing = await gql(S06, { runId: "run_nope" });
    expect(missing.errors?.[0]?.message).toBe("not found");

    const latest = await gql(S16, { before: null, stackId });
    expect(latest.data!.stack.runs[0]).toEqual({ id: runId });
    const list = await gql(S35, { before: null, stackId });
    expect(list.errors).toBeUndefined();
    expect(list.data!.stack.runs[0]).toEqual({
      id: runId,
      branch: "main",
      canRetry: false,
      comments: [],
      commit: { authorLogin: null, authorName: "ada", hash: "abc1234" },
      createdAt: Math.floor(kit.now.value.getTime() / 1000),
      delta: null,
      driftDetection: false,
      expired: false,
      isMostRecent: true,
      needsApproval: false,
      state: "QUEUED",
      title: "TRACKED run triggered by admin",
      triggeredBy: "admin",
    });
    const ids = list.data!.stack.runs.map((r: { id: string }) => r.id);
    const older = await gql(S16, { before: ids[0], stackId });
    expect(older.data!.stack.runs.map((r: { id: string }) => r.id)).toEqual(
      ids.slice(1),
    );
  });

  it("S33 starts a task and S34 lists it", async () => {
    const created = await gql(S33, {
      command: "tofu state list",
      noinit: true,
      stack: stackId,
    });
    const taskId = created.data!.taskCreate.id;
    const tasks = await gql(S34, { before: null, stackId });
    expect(tasks.data!.stack.tasks).toEqual([
      {
        id: taskId,
        command: "tofu state list",
        commit: { hash: "abc1234", url: null },
        createdAt: Math.floor(kit.now.value.getTime() / 1000),
        state: "QUEUED",
        triggeredBy: "admin",
        type: "TASK",
      },
    ]);
  });
});

describe("Run.allowedActions", () => {
  const Q =
    "query($run:ID!$stack:ID!){stack(id: $stack){run(id: $run){state,allowedActions}}}";

  /** A run of a fresh stack walked (without rules) into `states`; returns its actions. */
  async function actionsAfter(
    type: "TRACKED" | "PROPOSED",
    states: Parameters<RunKit["walk"]>[1],
    stack?: string,
  ): Promise<string[]> {
    const stackOfRun =
      stack ??
      (await buildStack(kit.t.db, { tracked_commit_sha: "abc1234" })).id;
    const run = await kit.runs.service.trigger(ADMIN, {
      stackId: stackOfRun,
      runType: type,
    });
    if (states.length > 0) await kit.walk(run, states);
    const res = await gql(Q, { stack: stackOfRun, run: run.id });
    expect(res.errors).toBeUndefined();
    return res.data?.stack.run.allowedActions as string[];
  }

  it("serves the rules' actions for the run's state, retry only on the latest tracked run", async () => {
    expect(await actionsAfter("TRACKED", [])).toEqual([
      "discard",
      "cancel",
      "prioritize",
      "review",
    ]);
    expect(
      await actionsAfter("TRACKED", [
        "READY",
        "PREPARING",
        "INITIALIZING",
        "PLANNING",
        "UNCONFIRMED",
      ]),
    ).toEqual(["confirm", "discard", "review", "replan"]);
    expect(
      await actionsAfter("TRACKED", [
        "READY",
        "PREPARING",
        "INITIALIZING",
        "PLANNING",
      ]),
    ).toEqual(["stop"]);
    for (const last of ["CONFIRMED", "APPLYING"] as const) {
      expect(
        await actionsAfter("TRACKED", [
          "READY",
          "PREPARING",
          "INITIALIZING",
          "PLANNING",
          "UNCONFIRMED",
          last,
        ]),
      ).toEqual([]);
    }
    expect(await actionsAfter("TRACKED", ["READY", "FINISHED"])).toEqual([]);
    expect(await actionsAfter("PROPOSED", ["READY", "STOPPED"])).toEqual([
      "retry",
    ]);

    const stack = (
      await buildStack(kit.t.db, { tracked_commit_sha: "abc1234" })
    ).id;
    const older = await kit.runs.service.trigger(ADMIN, {
      stackId: stack,
      runType: "TRACKED",
    });
    await kit.walk(older, ["READY", "FAILED"]);
    kit.now.value = new Date(kit.now.value.getTime() + 1000);
    expect(await actionsAfter("TRACKED", ["READY", "FAILED"], stack)).toEqual([
      "retry",
    ]);
    const res = await gql(Q, { stack, run: older.id });
    expect(res.data?.stack.run).toEqual({
      state: "FAILED",
      allowedActions: [],
    });
  });
});

describe("spacectl workerpool operations", () => {
  it("S46 lists pools, S47 lists workers with metadata as a JSON string, S48/S49 drain and undrain", async () => {
    const pools = await gql(S46);
    expect(pools.errors).toBeUndefined();
    expect(pools.data!.workerPools).toContainEqual({
      id: kit.defaultPoolId,
      name: "default",
      description: null,
      pendingRuns: expect.any(Number),
      busyWorkers: 0,
      workers: [{ id: workerId }],
    });

    const workers = await gql(S47, { workerPool: kit.defaultPoolId });
    expect(workers.data!.workerPool.workers).toEqual([
      // jsonb keeps no key order, so the string is compared as the object it encodes.
      {
        id: workerId,
        busy: false,
        drained: false,
        metadata: expect.any(String),
      },
    ]);
    expect(JSON.parse(workers.data!.workerPool.workers[0].metadata)).toEqual({
      host: "w1",
      az: "b",
    });

    expect(
      await gql(S48, {
        drain: true,
        worker: workerId,
        workerPool: kit.defaultPoolId,
      }),
    ).toEqual({
      data: { workerDrainSet: { id: workerId } },
    });
    expect(await gql(S49, { workerPool: kit.defaultPoolId })).toEqual({
      data: {
        workerPool: { workers: [{ id: workerId, drained: true, busy: false }] },
      },
    });
    await gql(S48, {
      drain: false,
      worker: workerId,
      workerPool: kit.defaultPoolId,
    });
    expect(
      (await gql(S49, { workerPool: kit.defaultPoolId })).data!.workerPool
        .workers[0].drained,
    ).toBe(false);
  });
});
