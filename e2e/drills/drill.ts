import { RUN_CONFIRM, type ApiClient } from "@stackyard/api-client";
import { gitRepo, triggerRun } from "../run-kit.ts";
import {
  checkLogs,
  checkStateVersions,
  numberedHook,
  unfinishedRuns,
} from "./drill-checks.ts";
import {
  sleep,
  terminalBoundMs,
  type DrillTopology,
  type ProcessName,
} from "./drill-topology.ts";

export const FAULTS = [
  "kill-api",
  "kill-drain",
  "kill-scheduler",
  "kill-launcher",
  "restart-postgres",
  "restart-broker",
] as const;
export type Fault = (typeof FAULTS)[number];

/** Run kinds: tracked with autodeploy (plan and apply in one go) or confirmed by hand. */
export type RunKind = "autodeploy" | "confirm";

/** The states a run of each kind passes, in order; a drill injects at one of them. */
const PHASES: Record<RunKind, readonly string[]> = {
  autodeploy: [
    "QUEUED",
    "READY",
    "PREPARING",
    "INITIALIZING",
    "PLANNING",
    "APPLYING",
  ],
  confirm: [
    "QUEUED",
    "READY",
    "PREPARING",
    "INITIALIZING",
    "PLANNING",
    "UNCONFIRMED",
    "CONFIRMED",
    "PREPARING_APPLY",
    "APPLYING",
  ],
};

const TERMINAL = new Set([
  "CANCELED",
  "DISCARDED",
  "FAILED",
  "FINISHED",
  "SKIPPED",
  "STOPPED",
]);

export interface DrillPlan {
  index: number;
  fault: Fault;
  kind: RunKind;
  /** Inject once the run has reached (or passed) this state… */
  phase: string;
  /** …and this many ms more. */
  delayMs: number;
  /** How long the faulted part stays down before it is started again. */
  downMs: number;
}

export interface DrillResult {
  plan: DrillPlan;
  /** The state the run was in when the fault hit. */
  injectedAt: string;
  run: { id: string; state: string; seconds: number; note: string };
  next: { id: string; state: string; seconds: number } | null;
  problems: string[];
  /** Wall time of the whole drill. */
  seconds: number;
}

/** A deterministic PRNG (mulberry32), so a seed replays a series of drills. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function planDrill(index: number, random: () => number): DrillPlan {
  const pick = <T>(items: readonly T[]): T =>
    items[Math.floor(random() * items.length)] as T;
  const fault = pick(FAULTS);
  const kind: RunKind = random() < 0.5 ? "autodeploy" : "confirm";
  return {
    index,
    fault,
    kind,
    phase: pick(PHASES[kind]),
    delayMs: Math.floor(random() * 1500),
    downMs: 500 + Math.floor(random() * 3500),
  };
}

/**
 * One drill: a fresh stack and a run; the fault at the planned phase; the faulted part
 * started again; then the run must end within the bound its timeouts give, its logs
 * and the stack's state versions must be whole, the next run on the stack must finish,
 * and no run of the install may be left unended.
 */
export async function runDrill(
  topology: DrillTopology,
  plan: DrillPlan,
): Promise<DrillResult> {
  const startedAt = Date.now();
  const { client, db } = topology;
  const problems: string[] = [];
  const exitsBefore = topology.unexpectedExits().length;
  const stack = await createDrillStack(
    client,
    `Drill ${plan.index} ${plan.fault} ${Date.now()}`,
    plan.kind === "autodeploy",
  );
  const runId = await triggerRun(client, stack);
  const runStart = Date.now();

  const injectedAt = await waitForPhase(topology, stack, runId, plan);
  await sleep(plan.delayMs);
  await inject(topology, plan);
  const repairedAt = Date.now();

  const final = await driveToEnd(
    topology,
    client,
    stack,
    runId,
    repairedAt + terminalBoundMs(),
  );
  const run = {
    id: runId,
    state: final.state,
    seconds: (Date.now() - runStart) / 1000,
    note: final.note,
  };
  if (!TERMINAL.has(final.state)) {
    problems.push(
      `run ${runId} did not end within ${terminalBoundMs() / 1000} s of the repair (still ${final.state})`,
    );
    return finish();
  }
  problems.push(
    ...(await checkLogs(db, client, stack, runId, final.state)).map(
      (p) => `run: ${p}`,
    ),
  );

  const nextId = await triggerRun(client, stack);
  const nextStart = Date.now();
  const nextFinal = await driveToEnd(
    topology,
    client,
    stack,
    nextId,
    nextStart + terminalBoundMs(),
  );
  const next = {
    id: nextId,
    state: nextFinal.state,
    seconds: (Date.now() - nextStart) / 1000,
  };
  if (nextFinal.state !== "FINISHED")
    problems.push(
      `the next run ${nextId} ended ${nextFinal.state}${nextFinal.note ? ` (${nextFinal.note})` : ""}`,
    );
  else
    problems.push(
      ...(await checkLogs(db, client, stack, nextId, "FINISHED")).map(
        (p) => `next run: ${p}`,
      ),
    );
  problems.push(
    ...(await checkStateVersions(
      db,
      client,
      stack,
      nextFinal.state === "FINISHED" ? "terraform_data.marker" : null,
    )),
  );
  const left = await unfinishedRuns(db);
  if (left.length) problems.push(`runs left unended: ${left.join(", ")}`);
  return finish({ ...next });

  function finish(nextResult: DrillResult["next"] = null): DrillResult {
    problems.push(...topology.unexpectedExits().slice(exitsBefore));
    return {
      plan,
      injectedAt,
      run,
      next: nextResult,
      problems,
      seconds: (Date.now() - startedAt) / 1000,
    };
  }
}

const STACK_CREATE = `mutation($input: StackInput!) {
  stackCreate(input: $input, manageState: true) { id } }`;

/** A stack on a fresh repository whose hooks print numbered lines in every phase. */
async function createDrillStack(
  client: ApiClient,
  name: string,
  autodeploy: boolean,
): Promise<string> {
  const data = await client.request<{ stackCreate: { id: string } }>(
    STACK_CREATE,
    {
      input: {
        name,
        repository: await gitRepo(),
        branch: "main",
        autodeploy,
        autoretry: false,
        administrative: false,
        provider: "GIT",
        beforeInit: [numberedHook("init")],
        beforePlan: [numberedHook("plan")],
        beforeApply: [numberedHook("apply")],
        vendorConfig: {
          terraform: { workflowTool: "OPEN_TOFU", version: null },
        },
      },
    },
  );
  return data.stackCreate.id;
}

/** The run's state and version straight from the database (the API may be the faulted part). */
async function readRun(
  topology: DrillTopology,
  runId: string,
): Promise<{ state: string; note: string } | null> {
  try {
    const res = await topology.db.query<{ state: string; note: string | null }>(
      `select r.state, (select t.note from run_transitions t where t.run_id = r.id
          order by t.state_version desc limit 1) as note
         from runs r where r.id = $1`,
      [runId],
    );
    const row = res.rows[0];
    return row ? { state: row.state, note: row.note ?? "" } : null;
  } catch {
    return null;
  }
}

/** Waits until the run reaches or passes the planned phase (or ends); returns its state. */
async function waitForPhase(
  topology: DrillTopology,
  stack: string,
  runId: string,
  plan: DrillPlan,
): Promise<string> {
  const order = PHASES[plan.kind];
  const target = order.indexOf(plan.phase);
  const deadline = Date.now() + 120_000;
  let state = "QUEUED";
  while (Date.now() < deadline) {
    state = (await readRun(topology, runId))?.state ?? state;
    if (TERMINAL.has(state) || order.indexOf(state) >= target) return state;
    if (state === "UNCONFIRMED" && plan.kind === "confirm")
      await topology.client
        .request(RUN_CONFIRM, { stack, run: runId })
        .catch(() => undefined);
    await sleep(50);
  }
  return state;
}

async function inject(topology: DrillTopology, plan: DrillPlan): Promise<void> {
  if (plan.fault === "restart-postgres")
    return topology.restartPostgres(plan.downMs);
  if (plan.fault === "restart-broker")
    return topology.restartBroker(plan.downMs);
  const name = plan.fault.slice("kill-".length) as ProcessName;
  const proc = topology.processes[name];
  await proc.kill();
  await sleep(plan.downMs);
  await proc.start();
}

/**
 * Polls the run until it ends or `deadline`, confirming it whenever it waits for
 * confirmation (the drill plays the user). Errors while parts restart are retried.
 */
async function driveToEnd(
  topology: DrillTopology,
  client: ApiClient,
  stack: string,
  runId: string,
  deadline: number,
): Promise<{ state: string; note: string }> {
  let last = { state: "unknown", note: "" };
  while (Date.now() < deadline) {
    last = (await readRun(topology, runId)) ?? last;
    if (TERMINAL.has(last.state)) return last;
    if (last.state === "UNCONFIRMED")
      await client
        .request(RUN_CONFIRM, { stack, run: runId })
        .catch(() => undefined);
    await sleep(250);
  }
  return last;
}
