import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminToken as flowAdminToken,
  cliAgainst,
  runConfirmApplyFlow,
} from "./confirm-apply-flow.ts";
import {
  freePort,
  graphql,
  runCli,
  waitFor,
  type CliProcess,
} from "./harness.ts";

// The product's main path, end to end: `stackyard up` (embedded Postgres, built-in
// broker, local launcher), a stack on a local git repository, a tracked run that plans
// with real OpenTofu, waits for confirmation, applies and leaves a state version.

describe("a tracked run on stackyard up", () => {
  let up: CliProcess;
  let dataDir: string;
  let base: string;
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-e2e-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    cliEnv = { STACKYARD_PORT: String(port), STACKYARD_DATA_DIR: dataDir };
    up = runCli(
      [
        "up",
        "--data-dir",
        dataDir,
        "--port",
        String(port),
        "--mqtt-port",
        String(await freePort()),
      ],
      {
        DATABASE_URL: undefined,
        STACKYARD_BIND_ADDRESS: "127.0.0.1",
        STACKYARD_LOG_LEVEL: "warn",
      },
    );
    await waitFor(
      "/readyz",
      async () => (await fetch(`${base}/readyz`)).status === 200,
      120_000,
    );
    await waitFor("the banner", async () =>
      up.output().includes("Stackyard is running at"),
    );
  }, 180_000);

  afterAll(async () => {
    if (up.child.exitCode === null) {
      up.child.kill("SIGINT");
      await up.exited;
    }
  });

  const target = () => ({ base, port: Number(cliEnv.STACKYARD_PORT), dataDir });
  const cli = (args: string[]) => cliAgainst(target(), args);
  const adminToken = () => flowAdminToken(target());

  it("plans, waits for confirmation, applies, and a second run is a no-op", async () => {
    await runConfirmApplyFlow(target(), "Greeting");
  }, 300_000);

  it("creates a worker pool from the CLI whose token and generated key start a launcher", async () => {
    const created = await cli(["pool", "create", "--name", "Extra pool"]);
    expect(created.code, created.out).toBe(0);
    const token = /^STACKYARD_TOKEN=(\S+)$/m.exec(created.out)?.[1];
    const key = /^STACKYARD_POOL_PRIVATE_KEY=(\S+)$/m.exec(created.out)?.[1];
    const poolId = /^pool:\s+(\S+)$/m.exec(created.out)?.[1];
    expect(token && key && poolId, created.out).toBeTruthy();
    expect(Buffer.from(key ?? "", "base64").toString()).toMatch(
      /BEGIN PRIVATE KEY/,
    );

    const launcher = runCli(["launcher"], {
      STACKYARD_TOKEN: token,
      STACKYARD_POOL_PRIVATE_KEY: key,
      STACKYARD_LAUNCHER_WORK_DIR: path.join(dataDir, "extra-launcher"),
      STACKYARD_LOG_LEVEL: "warn",
    });
    try {
      const jwt = await adminToken();
      await waitFor("the extra pool's worker", async () => {
        const r = await graphql<{
          workerPool: { workers: Array<{ id: string }> } | null;
        }>(
          base,
          "query($id:ID!){workerPool(id: $id){id,workers{id}}}",
          { id: poolId },
          jwt,
        );
        return (r.data?.workerPool?.workers.length ?? 0) > 0;
      });
    } finally {
      launcher.child.kill("SIGTERM");
      expect(await launcher.exited).toBe(0);
    }
  }, 120_000);
});
