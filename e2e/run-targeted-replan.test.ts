import { RUN_CONFIRM, type ApiClient } from "@stackyard/api-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStack,
  gitRepo,
  readRunLogs,
  startUp,
  triggerRun,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// Targeted replan end to end on `stackyard up` with real OpenTofu: a stack with two
// resources plans both; a replan of one (spacectl's mutation) plans only that one on a
// worker and waits for confirmation again; confirming applies only it. The repository's
// `.spacelift/config.yml` sets the resources' input and a before_plan hook, so the run
// also shows the runtime configuration taking effect.

const TWO_RESOURCES = `
variable "suffix" {
  type = string
}
resource "terraform_data" "a" {
  input = "alpha-\${var.suffix}"
}
resource "terraform_data" "b" {
  input = "beta-\${var.suffix}"
}
`;

const RUNTIME_CONFIG = `version: "1"
stack_defaults:
  environment:
    TF_VAR_suffix: from-runtime-config
  before_plan:
    - echo "hook from the runtime configuration"
`;

/** spacectl's S41 (graphql-compat.md). */
const S41 = `mutation($run: ID!, $stack: ID!, $targets: [String!]!) {
  runTargetedReplan(stack: $stack, run: $run, targets: $targets) { id }
}`;

/** spacectl's S10 (graphql-compat.md): `stack deploy --runtime-config <file>`. */
const S10 = `mutation($forceApply: ForceApplyMode, $runtimeConfig: RuntimeConfigInput, $sha: String, $stack: ID!, $type: RunType) {
  runTrigger(stack: $stack, commitSha: $sha, runType: $type, runtimeConfig: $runtimeConfig, forceApply: $forceApply) { id }
}`;

const CHANGES = `query($stack:ID!$run:ID!){stack(id: $stack){run(id: $run){delta{addCount,changeCount,deleteCount,resources},changesV3(input: {}){resources{address}}}}}`;

interface Changes {
  stack: {
    run: {
      delta: { addCount: number; resources: number } | null;
      changesV3: Array<{ resources: Array<{ address: string }> }>;
    } | null;
  } | null;
}

async function changedAddresses(
  client: ApiClient,
  stack: string,
  run: string,
): Promise<{ addCount: number | undefined; addresses: string[] }> {
  const data = await client.request<Changes>(CHANGES, { stack, run });
  const shown = data.stack?.run;
  return {
    addCount: shown?.delta?.addCount,
    addresses: (shown?.changesV3 ?? [])
      .flatMap((c) => c.resources.map((r) => r.address))
      .sort(),
  };
}

describe("a targeted replan on stackyard up", () => {
  let sy: Stackyard;
  beforeAll(async () => {
    sy = await startUp();
  }, 180_000);
  afterAll(async () => {
    await sy?.stop();
  });

  it("replans one of two resources, shows only it, and confirming applies only it", async () => {
    const { client } = sy;
    const repository = await gitRepo({
      "main.tf": TWO_RESOURCES,
      ".spacelift/config.yml": RUNTIME_CONFIG,
    });
    const stack = await createStack(client, {
      name: "Replan two",
      repository,
    });
    const run = await triggerRun(client, stack);
    const planned = await waitForRunState(client, stack, run, [
      "UNCONFIRMED",
      "FAILED",
      "FINISHED",
    ]);
    expect(planned.at(-1)?.state, planned.at(-1)?.note ?? "").toBe(
      "UNCONFIRMED",
    );
    expect(await changedAddresses(client, stack, run)).toEqual({
      addCount: 2,
      addresses: ["terraform_data.a", "terraform_data.b"],
    });

    const asked = await client.request<{ runTargetedReplan: { id: string } }>(
      S41,
      { stack, run, targets: ["terraform_data.a"] },
    );
    expect(asked.runTargetedReplan.id).toBe(run);
    const replanned = await waitForRunState(client, stack, run, [
      "UNCONFIRMED",
      "FAILED",
      "FINISHED",
    ]);
    expect(replanned.at(-1)?.state, replanned.at(-1)?.note ?? "").toBe(
      "UNCONFIRMED",
    );
    const states = replanned.map((t) => t.state);
    expect(states.slice(states.indexOf("REPLAN_REQUESTED"))).toEqual([
      "REPLAN_REQUESTED",
      "PREPARING_REPLAN",
      "PLANNING",
      "UNCONFIRMED",
    ]);
    expect(await changedAddresses(client, stack, run)).toEqual({
      addCount: 1,
      addresses: ["terraform_data.a"],
    });

    await client.request(RUN_CONFIRM, { stack, run });
    const applied = await waitForRunState(client, stack, run, [
      "FINISHED",
      "FAILED",
    ]);
    expect(applied.at(-1)?.state, applied.at(-1)?.note ?? "").toBe("FINISHED");

    const logs = await readRunLogs(client, stack, run);
    expect(logs).toContain(
      "runtime configuration: using .spacelift/config.yml (version 1, stack_defaults)",
    );
    expect(logs).toContain("hook from the runtime configuration");
    expect(logs).toContain('input  = "alpha-from-runtime-config"');
    expect(logs).toContain("targeted replan of terraform_data.a");
    expect(logs).toMatch(/running tofu plan .*-target=terraform_data\.a/);
    expect(logs).toContain("Resources: 1 added, 0 changed, 0 destroyed");
    expect(logs).toContain("terraform_data.a: Creation complete");
    expect(logs).not.toContain("terraform_data.b: Creation complete");

    // The state holds only the replanned resource: the next run plans the other one.
    const next = await triggerRun(client, stack);
    const nextPlanned = await waitForRunState(client, stack, next, [
      "UNCONFIRMED",
      "FAILED",
      "FINISHED",
    ]);
    expect(nextPlanned.at(-1)?.state, nextPlanned.at(-1)?.note ?? "").toBe(
      "UNCONFIRMED",
    );
    expect(await changedAddresses(client, stack, next)).toEqual({
      addCount: 1,
      addresses: ["terraform_data.b"],
    });
  }, 300_000);

  it("applies a run's own runtime configuration (spacectl --runtime-config) over the repository's file, and refuses an invalid one naming the field", async () => {
    const { client } = sy;
    const repository = await gitRepo({
      "main.tf": TWO_RESOURCES,
      ".spacelift/config.yml": RUNTIME_CONFIG,
    });
    const stack = await createStack(client, {
      name: "Runtime config per run",
      repository,
    });
    const deploy = async (yaml: string) =>
      (
        await client.request<{ runTrigger: { id: string } }>(S10, {
          forceApply: null,
          runtimeConfig: { yaml },
          sha: null,
          stack,
          type: "TRACKED",
        })
      ).runTrigger.id;

    // An invalid document is refused at trigger time, naming the field; no run exists.
    const listRuns = async (c: ApiClient, id: string) =>
      (
        await c.request<{ stack: { runs: Array<{ id: string }> } | null }>(
          `query($id: ID!){stack(id: $id){runs{id}}}`,
          { id },
        )
      ).stack?.runs ?? [];
    const before = (await listRuns(client, stack)).length;
    await expect(
      deploy("version: 1\nstack_defaults:\n  environment: [TF_VAR_suffix]\n"),
    ).rejects.toThrow(
      /runtimeConfig\.yaml is invalid: stack_defaults\.environment:/,
    );
    expect(await listRuns(client, stack)).toHaveLength(before);

    const run = await deploy(
      "version: 1\nstack_defaults:\n  environment:\n    TF_VAR_suffix: from-the-run\n",
    );
    const planned = await waitForRunState(client, stack, run, [
      "UNCONFIRMED",
      "FAILED",
      "FINISHED",
    ]);
    expect(planned.at(-1)?.state, planned.at(-1)?.note ?? "").toBe(
      "UNCONFIRMED",
    );
    const logs = await readRunLogs(client, stack, run);
    expect(logs).toContain(
      "runtime configuration: using .spacelift/config.yml with the run's runtime configuration (--runtime-config) over it (version 1, stack_defaults)",
    );
    // The file's hook still runs; the run's variable replaces the file's.
    expect(logs).toContain("hook from the runtime configuration");
    expect(logs).toContain('input  = "alpha-from-the-run"');
    expect(logs).not.toContain("from-runtime-config");
  }, 300_000);
});
