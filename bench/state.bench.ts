import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { insertLogChunk } from "../apps/server/src/modules/runs/run-log-repo.ts";
import { percentile, report, startBenchServer, timeIt } from "./bench-kit.ts";

/**
 * State backend and log benchmarks on a real server (scratch database, filesystem
 * storage), each printed with a baseline measured in the same run; no assertions:
 * - GET and POST of a 10 MB state over the HTTP backend (auth, encryption, the version
 *   row) vs the raw BlobStore put/get of the same 10 MB in the states bucket;
 * - concurrent log appends: W workers appending chunks through the run-log repo (the
 *   path the worker API's appendLog ends in) vs plain inserts of the same rows.
 */
const STATE_MB = Number(process.env.BENCH_STATE_MB ?? 10);
const ITERATIONS = Number(process.env.BENCH_STATE_ITERATIONS ?? 20);
const WORKERS = Number(process.env.BENCH_LOG_WORKERS ?? 16);
const CHUNKS = Number(process.env.BENCH_LOG_CHUNKS ?? 500);

const env = await startBenchServer();
const { app } = env.server;
try {
  const { db } = app;
  const stackId = "bench-state";
  await db
    .insertInto("stacks")
    .values({
      id: stackId,
      name: stackId,
      space_id: "root",
      repository: "org/repo",
      branch: "main",
    })
    .execute();
  const runId = `run_bench_${Date.now()}`;
  await db
    .insertInto("runs")
    .values({
      id: runId,
      stack_id: stackId,
      type: "TRACKED",
      blocking: true,
      state: "APPLYING",
    })
    .execute();
  const creds = await app.state.issueStateCredentials({
    runId,
    stackId,
    scope: "write",
    ttlSeconds: 3600,
  });
  const auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
  const address = `${env.url}/state/${stackId}`;

  // One ~10 MB state document per iteration (serial i), built before timing.
  const lineage = randomUUID();
  const padding = "x".repeat(STATE_MB * 1024 * 1024);
  const body = (serial: number) =>
    Buffer.from(
      JSON.stringify({
        version: 4,
        terraform_version: "1.10.10",
        serial,
        lineage,
        outputs: { blob: { value: `${serial}:${padding}`, type: "string" } },
        resources: [],
      }),
    );
  const bodies = Array.from({ length: ITERATIONS }, (_, i) => body(i + 1));
  const bucket = app.config.objectStorage.buckets.states;

  let i = 0;
  const post = await timeIt(ITERATIONS, async () => {
    const res = await fetch(address, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: bodies[i++],
    });
    if (res.status !== 200)
      throw new Error(`POST ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  });
  let j = 0;
  const put = await timeIt(ITERATIONS, async () => {
    await app.storage.put(bucket, `bench/raw-${j}`, bodies[j++] ?? "");
  });
  report(`state POST ${STATE_MB} MB (vs raw BlobStore put)`, post, put);

  const get = await timeIt(ITERATIONS, async () => {
    const res = await fetch(address, { headers: { authorization: auth } });
    if (res.status !== 200) throw new Error(`GET ${res.status}`);
    await res.arrayBuffer();
  });
  const rawGet = await timeIt(ITERATIONS, async () => {
    await app.storage.get(bucket, "bench/raw-0");
  });
  report(`state GET ${STATE_MB} MB (vs raw BlobStore get)`, get, rawGet);
  for (let k = 0; k < ITERATIONS; k++)
    await app.storage.delete(bucket, `bench/raw-${k}`);

  // Concurrent log appends: WORKERS writers, CHUNKS chunks each, one run state each.
  const text = `${"log line ".repeat(20)}\n`.repeat(8); // ~1.4 KB a chunk
  const logRuns = Array.from(
    { length: WORKERS },
    (_, w) => `run_bench_log_${w}`,
  );
  await db
    .insertInto("runs")
    .values(
      logRuns.map((id) => ({
        id,
        stack_id: stackId,
        type: "PROPOSED" as const,
        blocking: false,
        state: "PLANNING",
      })),
    )
    .execute();
  const throughput = async (
    label: string,
    version: number,
    insert: (runId: string, seq: number) => Promise<void>,
  ): Promise<number> => {
    const started = performance.now();
    const latencies: number[] = [];
    await Promise.all(
      logRuns.map(async (id) => {
        for (let seq = 0; seq < CHUNKS; seq++) {
          const t = performance.now();
          await insert(id, seq + version * CHUNKS);
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const rate = (WORKERS * CHUNKS) / seconds;
    console.log(
      `${label}: ${rate.toFixed(0)} chunks/s (${WORKERS} workers x ${CHUNKS}), p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
    );
    return rate;
  };
  const appended = await throughput(
    "log appends (run-log repo)",
    1,
    async (id, seq) => {
      await insertLogChunk(db, {
        runId: id,
        state: "PLANNING",
        stateVersion: 1,
        seq,
        text,
        now: new Date(),
      });
    },
  );
  const plain = await throughput(
    "baseline: plain inserts",
    2,
    async (id, seq) => {
      await sql`insert into run_log_chunks (run_id, state, state_version, seq, text, created_at)
      values (${id}, 'PLANNING', 2, ${seq}, ${text}, now())`.execute(db);
    },
  );
  console.log(
    `log appends vs plain inserts: ${(appended / plain).toFixed(2)}x the baseline throughput`,
  );
} finally {
  await env.close();
}
