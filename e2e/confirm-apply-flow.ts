import { readFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "vitest";
import { graphql, runCli } from "./harness.ts";
import { gitRepo } from "./run-kit.ts";

// The product's main path as one reusable flow, run by run-confirm-apply.test.ts on the
// default `stackyard up` and by storage-drivers.test.ts on each object-storage driver:
// a stack on a local git repository, a tracked run that plans with real OpenTofu, waits
// for confirmation, applies and leaves a state version with outputs; a second tracked
// run is a no-op; a proposed run finishes.

export const GREETING_TF = `
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

/** The running `stackyard up` the flow talks to. */
export interface FlowTarget {
  /** http://127.0.0.1:<port> */
  base: string;
  port: number;
  dataDir: string;
}

/** Runs the `stackyard` CLI against `target` (its port and data directory). */
export async function cliAgainst(
  target: FlowTarget,
  args: string[],
): Promise<{ code: number | null; out: string }> {
  const p = runCli(args, {
    STACKYARD_PORT: String(target.port),
    STACKYARD_DATA_DIR: target.dataDir,
  });
  const code = await p.exited;
  return { code, out: p.output() };
}

/** A session JWT of the admin API key `up` saved in the data directory. */
export async function adminToken(target: FlowTarget): Promise<string> {
  const key = JSON.parse(
    await readFile(path.join(target.dataDir, "admin-api-key.json"), "utf8"),
  ) as { id: string; secret: string };
  const r = await graphql<{ apiKeyUser: { jwt: string } }>(
    target.base,
    "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt,validUntil}}",
    key,
  );
  return r.data?.apiKeyUser.jwt ?? "";
}

/**
 * Plan → UNCONFIRMED → confirm → apply → FINISHED with outputs, then a no-op tracked run
 * and a proposed run. `name` must be unique per server (the stack id is its slug).
 */
export async function runConfirmApplyFlow(
  target: FlowTarget,
  name = "Greeting",
): Promise<{ stackId: string; runId: string }> {
  const repo = await gitRepo({ "main.tf": GREETING_TF });
  const cli = (args: string[]) => cliAgainst(target, args);
  const created = await cli([
    "stack",
    "create",
    "--name",
    name,
    "--repository",
    repo,
    "--branch",
    "main",
  ]);
  expect(created.code, created.out).toBe(0);
  const stackId = name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  expect(created.out).toContain(stackId);

  const triggered = await cli([
    "run",
    "trigger",
    "--stack",
    stackId,
    "--follow",
  ]);
  expect(triggered.code, triggered.out).toBe(0);
  const runId = /^(run_\S+)$/m.exec(triggered.out)?.[1];
  expect(runId, triggered.out).toBeTruthy();
  expect(triggered.out).toContain("PLANNING");
  expect(triggered.out).toMatch(/terraform_data\.greeting will be created/);
  expect(triggered.out).toContain("UNCONFIRMED");

  // `run logs --follow` stops where a person must act, as `run trigger --follow` does.
  const waiting = await cli([
    "run",
    "logs",
    "--stack",
    stackId,
    "--run",
    runId ?? "",
    "--follow",
  ]);
  expect(waiting.code, waiting.out).toBe(0);
  expect(waiting.out).toContain("Confirm it with: stackyard run confirm");
  // A missing id is named, instead of taking the next option as the id.
  const missing = await cli([
    "run",
    "logs",
    "--stack",
    stackId,
    "--run",
    "--follow",
  ]);
  expect(missing.code).not.toBe(0);
  expect(missing.out).toContain("expected a run id, got the option --follow");
  // An unknown run is one line, not a stack trace.
  const unknown = await cli([
    "run",
    "logs",
    "--stack",
    stackId,
    "--run",
    "run_nope",
  ]);
  expect(unknown.code).toBe(1);
  expect(unknown.out).toContain(
    `stackyard: run run_nope of stack ${stackId} not found`,
  );
  expect(unknown.out).not.toMatch(/\n\s+at /);

  const confirmed = await cli([
    "run",
    "confirm",
    "--stack",
    stackId,
    "--run",
    runId ?? "",
    "--follow",
  ]);
  expect(confirmed.code, confirmed.out).toBe(0);
  expect(confirmed.out).toContain("APPLYING");
  expect(confirmed.out).toMatch(/Apply complete! Resources: 1 added/);
  expect(confirmed.out).toContain("FINISHED");

  const token = await adminToken(target);
  const outputs = await graphql<{
    stack: { outputs: Array<{ id: string; value: string }> };
  }>(
    target.base,
    "query($stackId:ID!){stack(id: $stackId){id,name,outputs{id,sensitive,description,value}}}",
    { stackId },
    token,
  );
  expect(outputs.data?.stack.outputs).toEqual([
    expect.objectContaining({
      id: "greeting",
      value: JSON.stringify("hello"),
    }),
  ]);

  const again = await cli(["run", "trigger", "--stack", stackId, "--follow"]);
  expect(again.code, again.out).toBe(0);
  expect(again.out).toMatch(/No changes/);
  expect(again.out).toContain("FINISHED");
  expect(again.out).not.toContain("UNCONFIRMED");

  const proposed = await cli([
    "run",
    "trigger",
    "--stack",
    stackId,
    "--type",
    "proposed",
    "--follow",
  ]);
  expect(proposed.code, proposed.out).toBe(0);
  expect(proposed.out).toContain("FINISHED");
  return { stackId, runId: runId ?? "" };
}
