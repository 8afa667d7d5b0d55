import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createLogger } from "../apps/server/src/platform/log/logger.ts";
import {
  startEmbeddedPostgres,
  type EmbeddedPostgresServer,
} from "../apps/server/src/platform/embedded/embedded-postgres.ts";
import {
  createStack,
  gitRepo,
  startUp,
  TERRAFORM_DATA_TF,
  triggerRun,
} from "../e2e/run-kit.ts";
import { percentile } from "./bench-kit.ts";

/**
 * Run latency, on `stackyard up` (every role, the built-in broker, the local launcher
 * running real OpenTofu) over a scratch database, so transition times are read with
 * millisecond precision from `run_transitions`:
 * (a) trigger → the worker starting the run (its INITIALIZING report), p50 over N runs,
 *     with the QUEUED/READY/PREPARING steps in between; baseline: an authenticated
 *     GraphQL round trip (the API floor);
 * (b) trigger → FINISHED of a trivial autodeploy tracked run (one terraform_data
 *     created on a fresh stack), as a ratio to bare `tofu init && tofu apply
 *     -auto-approve` of the same config with the same binary in a temp dir, the two
 *     interleaved in the same run.
 * Database: BENCH_DATABASE_URL (an admin URL), else the machine's Postgres on
 * 127.0.0.1:5432, else an embedded one. N: BENCH_RUN_SAMPLES (default 8).
 */
const N = Number(process.env.BENCH_RUN_SAMPLES ?? 8);
const DEADLINE_MS = 120_000;

const log = createLogger({ level: "warn", format: "json" });
const work = await mkdtemp(path.join(os.tmpdir(), "stackyard-bench-run-"));
let embedded: EmbeddedPostgresServer | null = null;
let adminUrl =
  process.env.BENCH_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/postgres";
if (!(await canConnect(adminUrl))) {
  embedded = await startEmbeddedPostgres({
    dataDir: path.join(work, "pg"),
    password: "bench",
    log,
  });
  adminUrl = embedded.url.replace(/\/stackyard$/, "/postgres");
}
const dbName = `stackyard_bench_run_${process.pid}`;
await admin(adminUrl, `create database ${dbName}`);
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;

const tofu = toolBinary();
const sy = await startUp(
  { DATABASE_URL: dbUrl.toString() },
  { dataDir: path.join(work, "data") },
);
const db = new pg.Client({ connectionString: dbUrl.toString() });
await db.connect();
try {
  const repo = await gitRepo();
  const floor: number[] = [];
  const pickup: number[] = [];
  const steps: Record<string, number[]> = {
    QUEUED: [],
    READY: [],
    PREPARING: [],
    INITIALIZING: [],
    PLANNING: [],
    APPLYING: [],
    FINISHED: [],
  };
  const endToEnd: number[] = [];
  const bare: number[] = [];

  // Warm-up: the first run pays for provider-free but cold tofu and git paths.
  await timedRun(repo, "warm-up");
  await bareApply();

  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await sy.client.request("{debugInfo{selfHostedVersion}}");
    floor.push(performance.now() - t);

    const run = await timedRun(repo, `bench ${i}`);
    const since = (state: string) => {
      const at = run.at[state];
      if (at === undefined) throw new Error(`the run never was ${state}`);
      return at - run.triggeredAt;
    };
    pickup.push(since("INITIALIZING"));
    for (const [state, xs] of Object.entries(steps)) xs.push(since(state));
    endToEnd.push(since("FINISHED"));
    bare.push(await bareApply());
  }

  const p50 = (xs: number[]) => percentile(xs, 50);
  console.log(
    `trigger → worker starts the run (INITIALIZING): p50 ${p50(pickup).toFixed(0)} ms over ${N} runs; ` +
      `baseline GraphQL round trip p50 ${p50(floor).toFixed(1)} ms`,
  );
  console.log(
    `  steps after trigger (p50): ${Object.entries(steps)
      .map(([s, xs]) => `${s} ${p50(xs).toFixed(0)} ms`)
      .join(", ")}`,
  );
  console.log(
    `trivial autodeploy run, trigger → FINISHED: p50 ${p50(endToEnd).toFixed(0)} ms; ` +
      `baseline bare tofu init && apply p50 ${p50(bare).toFixed(0)} ms; ` +
      `ratio ${(p50(endToEnd) / p50(bare)).toFixed(2)}x`,
  );
} finally {
  await db.end();
  await sy.stop();
  await admin(adminUrl, `drop database if exists ${dbName} with (force)`);
  if (embedded) await embedded.stop();
  await rm(work, { recursive: true, force: true });
}

/**
 * Creates a fresh autodeploy stack (fresh state: the apply creates the resource, as the
 * bare baseline does), triggers a tracked run and waits (bounded) for it to end.
 * Returns the trigger time and each state's first transition, on the epoch-ms clock.
 */
async function timedRun(
  repository: string,
  name: string,
): Promise<{ triggeredAt: number; at: Record<string, number> }> {
  const stack = await createStack(sy.client, {
    name,
    repository,
    autodeploy: true,
  });
  const triggeredAt = Date.now();
  const runId = await triggerRun(sy.client, stack);
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const { rows } = await db.query<{ state: string; at: Date }>(
      "select state, created_at as at from run_transitions where run_id = $1 order by state_version",
      [runId],
    );
    const last = rows.at(-1)?.state;
    if (last === "FINISHED") {
      const at: Record<string, number> = {};
      for (const r of rows) at[r.state] ??= r.at.getTime();
      return { triggeredAt, at };
    }
    if (last === "FAILED" || last === "DISCARDED" || last === "CANCELED")
      throw new Error(`run ${runId} ended ${last}`);
    if (Date.now() > deadline)
      throw new Error(`run ${runId} did not finish: last state ${last}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Bare `tofu init && tofu apply -auto-approve` of the same config in a fresh temp dir (ms). */
async function bareApply(): Promise<number> {
  const dir = await mkdtemp(path.join(work, "bare-"));
  await writeFile(path.join(dir, "main.tf"), TERRAFORM_DATA_TF);
  const env = { ...process.env, TF_IN_AUTOMATION: "1", TF_INPUT: "0" };
  const t = performance.now();
  execFileSync(tofu, ["init", "-input=false", "-no-color"], {
    cwd: dir,
    env,
    stdio: "ignore",
  });
  execFileSync(tofu, ["apply", "-auto-approve", "-input=false", "-no-color"], {
    cwd: dir,
    env,
    stdio: "ignore",
  });
  return performance.now() - t;
}

/** The tofu binary the launcher uses: STACKYARD_BIN_DIR, else the setup script's toolchain. */
function toolBinary(): string {
  const dir =
    process.env.STACKYARD_BIN_DIR ??
    path.join(os.homedir(), ".cache", "stackyard", "toolchain", "bin");
  const bin = path.join(dir, "tofu");
  if (!existsSync(bin))
    throw new Error(
      `no OpenTofu at ${bin}: run \`npm run setup\` or set STACKYARD_BIN_DIR`,
    );
  return bin;
}

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2000,
  });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function admin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
