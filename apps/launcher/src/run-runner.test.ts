import { generateKeyPairSync } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import {
  open,
  seal,
  type RunAssign,
  type RunAssignSpec,
  type RunLogChunk,
  type WorkerHeartbeat,
} from "@stackyard/protocol";
import { pino } from "pino";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createProcessExecutor } from "./executor/index.ts";
import {
  createTestRepo,
  hasTofu,
  mainTf,
  TEST_BIN_DIR,
  tempDir,
} from "../test/executor-support.ts";
import type { Executor, RunOutcome } from "./executor/run-spec.ts";
import { runLauncher, type LauncherHandle } from "./main.ts";
import { RunRunner } from "./run-runner.ts";
import { TestServer } from "../test/test-server.ts";
import { FakeWorkerApi } from "../test/test-worker-api.ts";
import { unpackWorkspace } from "./workspace/workspace-archive.ts";

const log = pino({ level: "silent" });
const timings = {
  reconnectPeriodMs: 50,
  unregisterTimeoutMs: 1000,
  connectTimeoutMs: 2000,
};
const runner = {
  retry: {
    initialDelayMs: 20,
    maxDelayMs: 100,
    maxTotalMs: 10_000,
    attemptTimeoutMs: 5000,
  },
  reporter: { flushMs: 50 },
};
const SECRET = "s3cr3t-launcher-value-8f2a";
const RUN_TIMEOUT = 60_000;

let server: TestServer;
let api: FakeWorkerApi;
let launcher: LauncherHandle | null = null;
const cleanup: string[] = [];

beforeEach(async () => {
  server = new TestServer();
  await server.start();
  api = new FakeWorkerApi();
  await api.start();
});

afterEach(async () => {
  await launcher?.stop({ graceMs: 0 });
  launcher = null;
  await api.stop();
  await server.stop();
});

afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const d = tempDir(prefix);
  cleanup.push(d);
  return d;
}

async function startLauncher(
  executor: Executor = createProcessExecutor({ hostPath: process.env.PATH }),
  extraEnv: Record<string, string> = {},
): Promise<LauncherHandle> {
  launcher = await runLauncher({
    env: server.env({
      STACKYARD_LAUNCHER_WORK_DIR: dir("launcher-work"),
      STACKYARD_BIN_DIR: TEST_BIN_DIR,
      ...extraEnv,
    }),
    log,
    timings,
    executor,
    runner,
  });
  await expect
    .poll(() => server.messages("worker.heartbeat").length)
    .toBeGreaterThan(0);
  return launcher;
}

function protocolSpec(
  overrides: Partial<RunAssignSpec> & { runId: string },
): RunAssignSpec {
  return {
    stackId: "stk_test",
    runType: "TRACKED",
    phase: "plan",
    repository: { url: "", commitSha: null, branch: "main" },
    projectRoot: "",
    tool: { kind: "tofu", version: null },
    environment: [],
    mountedFiles: [],
    hooks: {},
    stateBackend: null,
    command: null,
    skipInit: false,
    computed: {},
    ...overrides,
  };
}

function assignMsg(
  runId: string,
  assignment: number,
  spec: Partial<RunAssignSpec>,
  needsWorkspace = false,
): RunAssign {
  const runToken = `rt_${runId}`;
  api.tokens.set(runId, runToken);
  return {
    v: 1,
    type: "run.assign",
    runId,
    assignment,
    apiUrl: api.url,
    runToken: {
      sealed: true,
      value: seal(server.poolKey.publicKeyPem, runToken),
    },
    spec: protocolSpec({ ...spec, runId }),
    needsWorkspace,
  };
}

function sealedSecret(publicKeyPem = server.poolKey.publicKeyPem) {
  return {
    name: "SECRET_TOKEN",
    value: { sealed: true, value: seal(publicKeyPem, SECRET) },
    secret: true,
  };
}

async function waitForResult(runId: string, assignment: number) {
  await expect
    .poll(() => api.result(runId, assignment), {
      timeout: RUN_TIMEOUT,
      interval: 50,
    })
    .toBeDefined();
  const result = api.result(runId, assignment);
  if (!result) throw new Error("no result");
  return result;
}

/** Chunks of each state are numbered 0, 1, 2, ... without gaps, each whole lines. */
function expectOrderedChunks(chunks: RunLogChunk[]): void {
  const byState = new Map<string, number[]>();
  for (const c of chunks) {
    byState.set(c.state, [...(byState.get(c.state) ?? []), c.seq]);
    expect(c.text.endsWith("\n")).toBe(true);
  }
  for (const seqs of byState.values())
    expect(seqs).toEqual(seqs.map((_, i) => i));
}

/** Heartbeat statuses with repeats collapsed. */
function statusChanges(heartbeats: WorkerHeartbeat[]): string[] {
  const changes: string[] = [];
  for (const h of heartbeats) {
    const label = h.runId ? `${h.status}:${h.runId}` : h.status;
    if (changes.at(-1) !== label) changes.push(label);
  }
  return changes;
}

function stateEvents(runId: string, assignment: number): string[] {
  return api
    .events(runId, assignment)
    .flatMap((e) => (e.type === "state" ? [e.state] : []));
}

describe.skipIf(!hasTofu())("launcher runs with OpenTofu", () => {
  let repoUrl: string;

  beforeEach(() => {
    if (repoUrl) return;
    const repo = createTestRepo();
    cleanup.push(repo.dir);
    repo.commit({ "main.tf": mainTf() });
    repoUrl = repo.dir;
  });

  it(
    "plans, uploads the sealed workspace before the result, then applies the queued phase",
    async () => {
      const l = await startLauncher();
      const plan = assignMsg("run_plan", 1, {
        repository: { url: repoUrl, commitSha: null, branch: "main" },
        environment: [sealedSecret()],
        hooks: { beforePlan: ['echo "token is $SECRET_TOKEN"'] },
      });
      await server.send(l.workerId, plan);
      // Redelivered: must be ignored.
      await server.send(l.workerId, plan);
      // The next phase of the same run while still busy: queued behind the plan.
      await server.send(
        l.workerId,
        assignMsg(
          "run_plan",
          2,
          {
            phase: "apply",
            repository: { url: repoUrl, commitSha: null, branch: "main" },
            environment: [sealedSecret()],
          },
          true,
        ),
      );

      const planResult = await waitForResult("run_plan", 1);
      expect(planResult).toMatchObject({
        phase: "plan",
        ok: true,
        stopped: false,
        failureReason: null,
        plan: { hasChanges: true, add: 1, change: 0, destroy: 0 },
      });
      expect(stateEvents("run_plan", 1)).toEqual(["INITIALIZING", "PLANNING"]);
      const planChunks = api.logs("run_plan", 1);
      expectOrderedChunks(planChunks);
      const planText = planChunks.map((c) => c.text).join("");
      expect(planText).toContain("token is *****");
      expect(planText).toContain("OpenTofu has been successfully initialized");

      // The workspace PUT came before the result and opens to a valid tar.gz.
      const order = api.requests
        .filter((r) => r.status < 300)
        .map((r) => `${r.method} ${r.route}`);
      const putAt = order.indexOf("PUT workspace");
      const resultAt = api.requests.findIndex(
        (r) =>
          r.route === "events" &&
          (r.body as { type?: string; assignment?: number }).type ===
            "result" &&
          (r.body as { assignment?: number }).assignment === 1,
      );
      expect(putAt).toBeGreaterThanOrEqual(0);
      expect(putAt).toBeLessThan(resultAt);
      // So did the plan document; the result carries addresses and actions only.
      const planAt = order.indexOf("PUT plan");
      expect(planAt).toBeGreaterThanOrEqual(0);
      expect(planAt).toBeLessThan(resultAt);
      expect(api.plans.get("run_plan")).toMatchObject({
        terraform_version: expect.stringMatching(/^\d+\.\d+/),
        resource_changes: [
          {
            address: "terraform_data.thing",
            type: "terraform_data",
            name: "thing",
            provider_name: "terraform.io/builtin/terraform",
            change: {
              actions: ["create"],
              before: null,
              after: { input: "first", output: "(known after apply)" },
            },
          },
        ],
      });
      expect(planResult.plan?.resources).toEqual([
        { address: "terraform_data.thing", actions: ["create"] },
      ]);
      const box = api.workspaces.get("run_plan") ?? "";
      expect(box).toMatch(/^sb1\./);
      const archive = open(server.poolKey.privateKeyPem, box);
      expect(archive.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      const restored = dir("restored");
      await unpackWorkspace(archive, restored);
      expect(existsSync(path.join(restored, "source", "stackyard.plan"))).toBe(
        true,
      );

      const applyResult = await waitForResult("run_plan", 2);
      expect(applyResult).toMatchObject({ phase: "apply", ok: true });
      expect(stateEvents("run_plan", 2)).toEqual(["APPLYING"]);
      const getAt = api.requests.findIndex(
        (r) => r.method === "GET" && r.route === "workspace",
      );
      expect(getAt).toBeGreaterThan(resultAt);
      const applyChunks = api.logs("run_plan", 2);
      expectOrderedChunks(applyChunks);
      expect(applyChunks.map((c) => c.text).join("")).toContain(
        "Apply complete! Resources: 1 added",
      );

      // The duplicate assign ran nothing: one result per assignment.
      expect(
        api.events("run_plan").filter((e) => e.type === "result"),
      ).toHaveLength(2);
      // The secret never left the worker in the clear.
      for (const r of api.requests)
        expect(JSON.stringify(r.body)).not.toContain(SECRET);

      // BUSY with the run id from the assign to the end of the apply, IDLE after.
      await expect
        .poll(() => statusChanges(server.messages("worker.heartbeat")))
        .toEqual(["IDLE", "BUSY:run_plan", "IDLE"]);
      expect(l.currentRunId()).toBeNull();
    },
    RUN_TIMEOUT * 2,
  );

  it(
    "loses nothing when the worker API fails for a while, and repeats are harmless",
    async () => {
      const l = await startLauncher();
      api.fail("POST", "logs", 2);
      // The server took these, but the answers were lost: the launcher repeats them.
      api.fail("POST", "logs", 1, { afterProcessing: true });
      api.fail("POST", "events", 2);
      api.fail("POST", "events", 1, { afterProcessing: true });
      api.fail("PUT", "workspace", 2);
      api.fail("PUT", "workspace", 1, { afterProcessing: true, status: 502 });
      await server.send(
        l.workerId,
        assignMsg("run_flaky", 1, {
          repository: { url: repoUrl, commitSha: null, branch: "main" },
          hooks: {
            beforePlan: ["for i in $(seq 1 200); do echo line-$i; done"],
          },
        }),
      );
      const result = await waitForResult("run_flaky", 1);
      expect(result).toMatchObject({ ok: true, plan: { hasChanges: true } });
      expect(api.requests.filter((r) => r.status >= 500)).toHaveLength(9);

      const chunks = api.logs("run_flaky", 1);
      expectOrderedChunks(chunks);
      const lines = chunks.map((c) => c.text).join("");
      for (let i = 1; i <= 200; i++)
        expect(lines.split("\n").filter((x) => x === `line-${i}`)).toHaveLength(
          1,
        );
      expect(api.workspaces.get("run_flaky")).toMatch(/^sb1\./);
      // The result came after every log chunk was acknowledged.
      const lastLog = api.requests.findLastIndex(
        (r) => r.route === "logs" && r.status < 300,
      );
      const firstResult = api.requests.findIndex(
        (r) =>
          r.route === "events" &&
          (r.body as { type?: string }).type === "result",
      );
      expect(lastLog).toBeLessThan(firstResult);
    },
    RUN_TIMEOUT,
  );

  it(
    "stops a run in a hook quickly, ignoring an assign for another run meanwhile",
    async () => {
      const l = await startLauncher();
      await server.send(
        l.workerId,
        assignMsg("run_stop", 1, {
          repository: { url: repoUrl, commitSha: null, branch: "main" },
          hooks: { beforePlan: ["echo about to sleep", "sleep 30"] },
        }),
      );
      await expect
        .poll(() => api.logText("run_stop"), { timeout: RUN_TIMEOUT })
        .toContain("about to sleep");

      await server.send(
        l.workerId,
        assignMsg("run_other", 1, {
          repository: { url: repoUrl, commitSha: null, branch: "main" },
        }),
      );
      const stoppedAt = Date.now();
      await server.send(l.workerId, {
        v: 1,
        type: "run.stop",
        runId: "run_stop",
        reason: "stopped by alice",
      });
      const result = await waitForResult("run_stop", 1);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      expect(result).toMatchObject({
        ok: false,
        stopped: true,
        failureReason: "run stopped: stopped by alice",
      });
      await expect
        .poll(() => server.messages("worker.heartbeat").at(-1)?.status)
        .toBe("IDLE");
      expect(api.requests.filter((r) => r.runId === "run_other")).toEqual([]);
    },
    RUN_TIMEOUT,
  );

  it(
    "stops the current run when the shutdown grace period is over, then reports and unregisters",
    async () => {
      const l = await startLauncher();
      await server.send(
        l.workerId,
        assignMsg("run_shutdown", 1, {
          repository: { url: repoUrl, commitSha: null, branch: "main" },
          hooks: { beforePlan: ["echo about to sleep", "sleep 30"] },
        }),
      );
      await expect
        .poll(() => api.logText("run_shutdown"), { timeout: RUN_TIMEOUT })
        .toContain("about to sleep");
      const started = Date.now();
      await l.stop({ graceMs: 300, reason: "received SIGTERM" });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(api.result("run_shutdown", 1)).toMatchObject({
        ok: false,
        stopped: false,
        failureReason:
          "the worker shut down (received SIGTERM) before the run finished",
      });
      expect(await l.closed).toEqual({ code: 0, reason: "received SIGTERM" });
      expect(server.messages("worker.unregister")).toMatchObject([
        { reason: "received SIGTERM" },
      ]);
    },
    RUN_TIMEOUT,
  );
});

describe("launcher runs (no tool needed)", () => {
  it("reports a secret sealed to another key as a failed run and stays up", async () => {
    const l = await startLauncher();
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .publicKey.export({ type: "spki", format: "pem" })
      .toString();
    await server.send(
      l.workerId,
      assignMsg("run_badkey", 1, { environment: [sealedSecret(otherKey)] }),
    );
    const result = await waitForResult("run_badkey", 1);
    expect(result).toMatchObject({ ok: false, stopped: false, plan: null });
    expect(result.failureReason).toMatch(
      /^cannot open the run's secrets: environment variable SECRET_TOKEN: this box was sealed to another key: check STACKYARD_POOL_PRIVATE_KEY/,
    );
    expect(stateEvents("run_badkey", 1)).toEqual([]);
    await expect
      .poll(() => statusChanges(server.messages("worker.heartbeat")))
      .toEqual(["IDLE", "BUSY:run_badkey", "IDLE"]);
    expect(l.currentRunId()).toBeNull();
  });

  it("opens the run token with the pool key and drops an assignment whose token does not open", async () => {
    const l = await startLauncher();
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .publicKey.export({ type: "spki", format: "pem" })
      .toString();
    const foreign = assignMsg("run_foreign_token", 1, {});
    foreign.runToken = {
      sealed: true,
      value: seal(otherKey, "rt_run_foreign_token"),
    };
    await server.send(l.workerId, foreign);
    await expect
      .poll(() => statusChanges(server.messages("worker.heartbeat")))
      .toEqual(["IDLE", "BUSY:run_foreign_token", "IDLE"]);
    // Without its token nothing can be reported; the server's pickup timeout ends the run.
    expect(api.requests.filter((r) => r.runId === "run_foreign_token")).toEqual(
      [],
    );
    // A plain-text token is not a valid run.assign any more.
    await server.send(
      l.workerId,
      JSON.stringify({
        ...assignMsg("run_plain_token", 1, {}),
        runToken: "rt_run_plain_token",
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(api.requests.filter((r) => r.runId === "run_plain_token")).toEqual(
      [],
    );
    expect(l.currentRunId()).toBeNull();
  });

  it("fails the apply phase with the server's message when the workspace is missing", async () => {
    const l = await startLauncher();
    await server.send(
      l.workerId,
      assignMsg("run_nows", 1, { phase: "apply" }, true),
    );
    expect(await waitForResult("run_nows", 1)).toMatchObject({
      ok: false,
      failureReason:
        "fetching the planned workspace: GET workspace was refused: HTTP 404: no workspace stored",
    });
  });

  it("exits after the current run when cycled", async () => {
    const gate = deferred<RunOutcome>();
    const l = await startLauncher(fakeExecutor(gate.promise));
    await server.send(l.workerId, assignMsg("run_cycle", 1, {}));
    await expect.poll(() => l.currentRunId()).toBe("run_cycle");
    await server.send(l.workerId, { v: 1, type: "worker.cycle" });
    await new Promise((r) => setTimeout(r, 200));
    expect(server.messages("worker.unregister")).toEqual([]);
    // New runs are refused while waiting to exit.
    await server.send(l.workerId, assignMsg("run_late", 1, {}));
    gate.resolve({ ok: true });
    expect(await l.closed).toEqual({ code: 0, reason: "cycled by the server" });
    expect(api.result("run_cycle", 1)).toMatchObject({ ok: true });
    expect(api.requests.filter((r) => r.runId === "run_late")).toEqual([]);
    expect(server.messages("worker.unregister")).toHaveLength(1);
  });
});

describe("RunRunner.shutdown", () => {
  it("lets a run that finishes within the grace period report normally", async () => {
    const gate = deferred<RunOutcome>();
    const busy: Array<string | null> = [];
    const r = new RunRunner({
      executor: fakeExecutor(gate.promise),
      poolPrivateKey: server.poolKey.privateKeyPem,
      poolPublicKey: server.poolKey.publicKeyPem,
      workDir: dir("runner-work"),
      binDir: "/nonexistent",
      searchPath: "",
      log,
      onBusy: (runId) => busy.push(runId),
      ...runner,
    });
    r.assign(assignMsg("run_grace", 1, {}));
    const shutdown = r.shutdown({ graceMs: 5000, reason: "received SIGTERM" });
    setTimeout(() => gate.resolve({ ok: true }), 200);
    await shutdown;
    expect(api.result("run_grace", 1)).toMatchObject({ ok: true });
    expect(busy).toEqual(["run_grace", null]);
    // No new runs after shutdown.
    r.assign(assignMsg("run_after", 1, {}));
    expect(r.currentRunId).toBeNull();
  });
});

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** An executor that enters PLANNING, logs a line and ends with `outcome`. */
function fakeExecutor(outcome: Promise<RunOutcome>): Executor {
  return {
    async run(_spec, events) {
      events.onState("PLANNING");
      events.onLog("PLANNING", "planning");
      return outcome;
    },
  };
}
