import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "./harness.ts";
import { git, startUp, waitForRunState, type Stackyard } from "./run-kit.ts";

// A GIT_PUSH policy replaces the default push behaviour on real pushes: `stackyard up`
// polling a local git repository every second; the policy reads the commit message to
// track, propose or ignore, and the stack's VCS events record its decision. A second
// push policy's side rules (notrigger, fail + message, cancel, prioritize) take effect
// on the same real pushes.

const PUSH_POLICY = `package spacelift

import rego.v1

track if {
  input.push.branch == input.stack.branch
  contains(input.push.message, "[deploy]")
}

propose if contains(input.push.message, "[preview]")

ignore if contains(input.push.message, "[skip]")
`;

// Side rules, also keyed on the commit message; combined with the policy above.
const SIDE_RULES_POLICY = `package spacelift

import rego.v1

notrigger if contains(input.push.message, "[notrigger]")

prioritize if contains(input.push.message, "[prio]")

cancel contains run.id if {
  contains(input.push.message, "[cancel]")
  some run in input.in_progress
  run.state == "QUEUED"
}

fail if contains(input.push.message, "[fail]")

message := "Deploys are frozen this week" if contains(input.push.message, "[fail]")
`;

// Holds runs in QUEUED until someone approves them: a run that stays cancellable.
const APPROVAL_POLICY = `package spacelift

import rego.v1

approve if count(input.reviews.current.approvals) > 0
`;

const tf = (input: string) => `
resource "terraform_data" "marker" {
  input = "${input}"
}
`;

const STACK_CREATE = `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`;
const VCS_EVENTS = `query($stack: ID!){stackyardVcsEvents(stack: $stack){id source kind sha branch outcome runId reason rules actions}}`;

interface VcsEvent {
  sha: string | null;
  outcome: string;
  runId: string | null;
  reason: string;
  rules: string[];
  actions: string[];
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

  async function attachPolicy(name: string, type: string, body: string) {
    const policy = await sy.client.request<{ policyCreatev2: { id: string } }>(
      `mutation($input: PolicyCreateInput!){policyCreatev2(input: $input){id}}`,
      { input: { name, type, body, labels: [] } },
    );
    await sy.client.request(
      `mutation($id: ID!, $stack: ID!){policyAttach(id: $id, stack: $stack){id}}`,
      { id: policy.policyCreatev2.id, stack: stackId },
    );
  }

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
  it("acts on notrigger, fail, cancel and prioritize from a push policy", async () => {
    await attachPolicy("Side rules", "GIT_PUSH", SIDE_RULES_POLICY);

    // notrigger: no run, but the tracked commit moves to the pushed sha.
    const quiet = await commit("[deploy] [notrigger] record only", "v5");
    const recorded = await eventFor(quiet);
    expect(recorded).toMatchObject({ outcome: "NOTRIGGER", runId: null });
    expect(recorded.rules).toContain("notrigger");
    expect(recorded.reason).toContain("push policy notrigger");
    expect(recorded.reason).toContain(
      `tracked commit moved to ${quiet.slice(0, 12)}`,
    );
    const stack = await sy.client.request<{
      stack: { trackedCommit: { hash: string } | null };
    }>(`query($id: ID!){stack(id: $id){trackedCommit{hash}}}`, {
      id: stackId,
    });
    expect(stack.stack.trackedCommit?.hash).toBe(quiet);

    // fail + message: no run, the reason carries the policy's message.
    const frozen = await eventFor(await commit("[deploy] [fail] hotfix", "v6"));
    expect(frozen).toMatchObject({ outcome: "FAILED", runId: null });
    expect(frozen.reason).toContain("Deploys are frozen this week");

    // cancel + prioritize: a proposed run held in QUEUED by an approval policy is
    // canceled by the next push, whose tracked run is prioritized, then approved and run.
    await attachPolicy("Approve on review", "APPROVAL", APPROVAL_POLICY);
    const held = await eventFor(await commit("[preview] held back", "v7"));
    expect(held.outcome).toBe("PROPOSED");
    const heldRun = held.runId ?? "";
    const go = await eventFor(
      await commit("[deploy] [cancel] [prio] go now", "v8"),
    );
    expect(go.outcome).toBe("TRACKED");
    expect(go.reason).toContain(`canceled run ${heldRun}`);
    expect(go.reason).toContain("run prioritized");
    expect(go.reason).toContain("rules: track, cancel, prioritize");
    await waitForRunState(sy.client, stackId, heldRun, ["CANCELED"]);
    await sy.client.request(
      `mutation($stack: ID!, $run: ID!){runReview(stack: $stack, run: $run, decision: APPROVE, note: "ship"){id}}`,
      { stack: stackId, run: go.runId },
    );
    await waitForRunState(sy.client, stackId, go.runId ?? "", ["FINISHED"]);
  }, 300_000);
});
