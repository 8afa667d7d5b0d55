import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../apps/server/src/platform/config/index.ts";
import { createLogger } from "../apps/server/src/platform/log/logger.ts";
import {
  startEmbeddedPostgres,
  type EmbeddedPostgresServer,
} from "../apps/server/src/platform/embedded/embedded-postgres.ts";
import { startServer, type RunningServer } from "../apps/server/src/server.ts";

/**
 * Benchmarks run against a real server on a scratch database: the machine's Postgres on
 * 127.0.0.1:5432 when it answers (BENCH_DATABASE_URL overrides), else an embedded one.
 */
export interface BenchEnv {
  server: RunningServer;
  url: string;
  close(): Promise<void>;
}

export async function startBenchServer(): Promise<BenchEnv> {
  const log = createLogger({ level: "warn", format: "json" });
  const adminUrl =
    process.env.BENCH_DATABASE_URL ??
    "postgres://postgres@127.0.0.1:5432/postgres";
  let embedded: EmbeddedPostgresServer | null = null;
  let base = adminUrl;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-bench-"));
  if (!(await canConnect(adminUrl))) {
    embedded = await startEmbeddedPostgres({ dataDir, password: "bench", log });
    base = embedded.url.replace(/\/stackyard$/, "/postgres");
  }
  const dbName = `stackyard_bench_${process.pid}`;
  await admin(base, `drop database if exists ${dbName}`);
  await admin(base, `create database ${dbName}`);
  const u = new URL(base);
  u.pathname = `/${dbName}`;
  const port = await freePort();
  const config = loadConfig({
    env: {
      STACKYARD_LOG_LEVEL: "warn",
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      DATABASE_URL: u.toString(),
    },
    flags: { dataDir, port, mqttPort: await freePort() },
    configFile: null,
  });
  const server = await startServer(config, {
    databaseUrl: u.toString(),
    log,
    roles: ["api"],
  });
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await server.stop();
      await admin(base, `drop database if exists ${dbName} with (force)`);
      if (embedded) await embedded.stop();
    },
  };
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() =>
        typeof a === "object" && a
          ? resolve(a.port)
          : reject(new Error("no port")),
      );
    });
  });
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return (
    sorted[
      Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
    ] ?? NaN
  );
}

export async function timeIt(
  n: number,
  fn: () => Promise<void>,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export function report(
  name: string,
  samples: number[],
  baseline: number[],
): void {
  const p50 = percentile(samples, 50);
  const b50 = percentile(baseline, 50);
  console.log(
    `${name}: p50 ${p50.toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms; baseline p50 ${b50.toFixed(2)} ms; ratio ${(p50 / b50).toFixed(2)}x`,
  );
}
