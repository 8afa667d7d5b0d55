import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./harness.ts";
import { git, startUp, waitForRunState, type Stackyard } from "./run-kit.ts";

// A GIT_PUSH policy replaces the default push behaviour on real pushes: `stackyard up`
// polling a local git repository every second; the policy reads the commit message to
// track, propose or ignore, and the stack's VCS events record its decision.

const PUSH_POLICY = `package spacelift

import rego.v1

track if {
  input.push.branch == input.stack.branch
  contains(input.push.message, "[deploy]")
}

propose if contains(input.push.message, "[preview]")

ignore if contains(input.push.message, "[skip]")
`;

const tf = (input: string) => `
resource "terraform_data" "marker" {
  input = "${input}"
}
`;

const STACK_CREATE = `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`;
const VCS_EVENTS = `query($stack: ID!){stackyardVcsEvents(stack: $stack){id source kind sha branch outcome runId reason}}`;

interface VcsEvent {
  sha: string | null;
  outcome: string;
  runId: string | null;
  reason: string;
}

describe("push policies on real pushes", () => {
  let sy: Stackyard;
  let repo: string;
  let stackId: string;

  const events = async () =>
    (
      await sy.client.request<{ stackyardVcsEvents: VcsEvent[] }>(VCS_EVENTS, {
        stack: stackId,
      })
    ).stackyardVcsEvents;

  async function commit(message: string, input: string): Promise<string> {
    await writeFile(path.join(repo, "main.tf"), tf(input));
    git(repo, "add", ".");
    git(repo, "commit", "-q", "-m", message);
    return git(repo, "rev-parse", "HEAD").trim();
  }

  const eventFor = (sha: string) =>
    waitFor(`the VCS event of ${sha.slice(0, 7)}`, async () =>
      (await events()).find((e) => e.sha === sha),
    );

  beforeAll(async () => {
    sy = await startUp({ STACKYARD_VCS_POLL_INTERVAL_SECONDS: "1" });
    repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-push-repo-"));
    git(repo, "init", "-q", "-b", "main");
    await commit("init", "v0");
    const created = await sy.client.request<{ stackCreate: { id: string } }>(
      STACK_CREATE,
      {
        input: {
          name: "Pushed",
          repository: repo,
          branch: "main",
          autodeploy: true,
          autoretry: false,
          administrative: false,
          provider: "GIT",
          vendorConfig: {
            terraform: { workflowTool: "OPEN_TOFU", version: null },
          },
        },
      },
    );
    stackId = created.stackCreate.id;
    const policy = await sy.client.request<{ policyCreatev2: { id: string } }>(
      `mutation($input: PolicyCreateInput!){policyCreatev2(input: $input){id}}`,
      {
        input: {
          name: "Message push rules",
          type: "GIT_PUSH",
          body: PUSH_POLICY,
          labels: [],
        },
      },
    );
    await sy.client.request(
      `mutation($id: ID!, $stack: ID!){policyAttach(id: $id, stack: $stack){id}}`,
      { id: policy.policyCreatev2.id, stack: stackId },
    );
    await waitFor("the first poll of the stack", async () =>
      (await events()).find((e) => e.reason.includes("first poll")),
    );
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("ignores, proposes and tracks as the push policy decides", async () => {
    // Affects the stack, so the default would track it; the policy ignores it.
    const skipped = await eventFor(await commit("[skip] not now", "v1"));
    expect(skipped).toMatchObject({ outcome: "IGNORED", runId: null });
    expect(skipped.reason).toContain(
      "ignored by push policy Message push rules",
    );

    const proposed = await eventFor(await commit("[preview] try it", "v2"));
    expect(proposed.outcome).toBe("PROPOSED");
    expect(proposed.reason).toContain(
      "proposed by push policy Message push rules",
    );
    await waitForRunState(sy.client, stackId, proposed.runId ?? "", [
      "FINISHED",
    ]);

    // No rule matches: a push policy's default is to ignore.
    const plain = await eventFor(await commit("just a change", "v3"));
    expect(plain).toMatchObject({ outcome: "IGNORED" });
    expect(plain.reason).toContain("the default is ignore");

    const tracked = await eventFor(await commit("[deploy] ship it", "v4"));
    expect(tracked.outcome).toBe("TRACKED");
    expect(tracked.reason).toContain(
      "tracked by push policy Message push rules",
    );
    await waitForRunState(sy.client, stackId, tracked.runId ?? "", [
      "FINISHED",
    ]);
  }, 300_000);
});
