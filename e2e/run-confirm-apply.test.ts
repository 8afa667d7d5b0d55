import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
const MAIN_TF = `
variable "greeting" {
  type    = string
  default = "hello"
}
resource "terraform_data" "greeting" {
  input = var.greeting
}
output "greeting" {
  value = terraform_data.greeting.output
}
`;

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  });
}

describe("a tracked run on stackyard up", () => {
  let up: CliProcess;
  let dataDir: string;
  let repo: string;
  let base: string;
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-e2e-"));
    repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-repo-"));
    git(repo, "init", "-q", "-b", "main");
    await writeFile(path.join(repo, "main.tf"), MAIN_TF);
    git(repo, "add", ".");
    git(repo, "commit", "-q", "-m", "greeting");
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

  async function cli(
    args: string[],
  ): Promise<{ code: number | null; out: string }> {
    const p = runCli(args, cliEnv);
    const code = await p.exited;
    return { code, out: p.output() };
  }

  async function adminToken(): Promise<string> {
    const key = JSON.parse(
      await readFile(path.join(dataDir, "admin-api-key.json"), "utf8"),
    ) as { id: string; secret: string };
    const r = await graphql<{ apiKeyUser: { jwt: string } }>(
      base,
      "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt,validUntil}}",
      key,
    );
    return r.data?.apiKeyUser.jwt ?? "";
  }

  it("plans, waits for confirmation, applies, and a second run is a no-op", async () => {
    const created = await cli([
      "stack",
      "create",
      "--name",
      "Greeting",
      "--repository",
      repo,
      "--branch",
      "main",
    ]);
    expect(created.code, created.out).toBe(0);
    expect(created.out).toContain("greeting");

    const triggered = await cli([
      "run",
      "trigger",
      "--stack",
      "greeting",
      "--follow",
    ]);
    expect(triggered.code, triggered.out).toBe(0);
    const runId = /^(run_\S+)$/m.exec(triggered.out)?.[1];
    expect(runId, triggered.out).toBeTruthy();
    expect(triggered.out).toContain("PLANNING");
    expect(triggered.out).toMatch(/terraform_data\.greeting will be created/);
    expect(triggered.out).toContain("UNCONFIRMED");

    const confirmed = await cli([
      "run",
      "confirm",
      "--stack",
      "greeting",
      "--run",
      runId ?? "",
      "--follow",
    ]);
    expect(confirmed.code, confirmed.out).toBe(0);
    expect(confirmed.out).toContain("APPLYING");
    expect(confirmed.out).toMatch(/Apply complete! Resources: 1 added/);
    expect(confirmed.out).toContain("FINISHED");

    const token = await adminToken();
    const outputs = await graphql<{
      stack: { outputs: Array<{ id: string; value: string }> };
    }>(
      base,
      "query($stackId:ID!){stack(id: $stackId){id,name,outputs{id,sensitive,description,value}}}",
      { stackId: "greeting" },
      token,
    );
    expect(outputs.data?.stack.outputs).toEqual([
      expect.objectContaining({
        id: "greeting",
        value: JSON.stringify("hello"),
      }),
    ]);

    const again = await cli([
      "run",
      "trigger",
      "--stack",
      "greeting",
      "--follow",
    ]);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/No changes/);
    expect(again.out).toContain("FINISHED");
    expect(again.out).not.toContain("UNCONFIRMED");

    const proposed = await cli([
      "run",
      "trigger",
      "--stack",
      "greeting",
      "--type",
      "proposed",
      "--follow",
    ]);
    expect(proposed.code, proposed.out).toBe(0);
    expect(proposed.out).toContain("FINISHED");
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
