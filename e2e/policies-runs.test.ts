import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiClient } from "@stackyard/api-client";
import { cliAgainst } from "./confirm-apply-flow.ts";
import { graphql, waitFor } from "./harness.ts";
import {
  createStack,
  gitRepo,
  runHistory,
  startUp,
  triggerRun,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// Policies end to end: `stackyard up` (embedded Postgres, the embedded OPA, a local
// launcher running real OpenTofu). Plan policies read the real plan of each run; an
// approval policy holds a run until two people approve; a trigger policy starts a
// dependent stack's run; login policies are consulted at the break-glass login.

const resource = (name: string) => `
resource "terraform_data" "${name}" {
  input = "${name}"
}
`;

const PLAN_POLICY = `package spacelift

import rego.v1

deny contains sprintf("%s may not be created", [rc.address]) if {
  some rc in input.terraform.resource_changes
  rc.name == "blocked"
  "create" in rc.change.actions
}

warn contains sprintf("%s needs a second look", [rc.address]) if {
  some rc in input.terraform.resource_changes
  rc.name == "warned"
}

sample := true
`;

// Rego v0, as written for Spacelift: two approvals in the current state, any rejection rejects.
const APPROVAL_POLICY = `package spacelift

approve { count(input.reviews.current.approvals) >= 2 }

reject { count(input.reviews.current.rejections) > 0 }
`;

const TRIGGER_POLICY = `package spacelift

import rego.v1

trigger contains "downstream" if input.run.state == "FINISHED"
`;

const ADMIN_USER = "breakglass";
const ADMIN_PASSWORD = "correct-horse-battery";

const POLICY_CREATE = `mutation($input: PolicyCreateInput!){policyCreatev2(input: $input){id,engineType}}`;
const POLICY_ATTACH = `mutation($id: ID!, $stack: ID!){policyAttach(id: $id, stack: $stack){id,stackId}}`;
const RUN_REVIEW = `mutation($decision: RunReviewDecision!, $note: String!, $run: ID, $stack: ID!){runReview(stack: $stack, run: $run, decision: $decision, note: $note){id}}`;
const RUN_CONFIRM = `mutation($run: ID!, $stack: ID!){runConfirm(stack: $stack, run: $run){id}}`;

async function createPolicy(
  client: ApiClient,
  input: { name: string; type: string; body: string; labels?: string[] },
): Promise<{ id: string; engineType: string }> {
  const data = await client.request<{
    policyCreatev2: { id: string; engineType: string };
  }>(POLICY_CREATE, { input: { labels: [], ...input } });
  return data.policyCreatev2;
}

async function breakGlassToken(base: string): Promise<Response> {
  return fetch(`${base}/admin-login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: ADMIN_USER, password: ADMIN_PASSWORD }),
  });
}

const lastState = (h: Array<{ state: string }>) => h.at(-1)?.state;

describe("policies on stackyard up", () => {
  let sy: Stackyard;

  beforeAll(async () => {
    sy = await startUp({
      ADMIN_USERNAME: ADMIN_USER,
      ADMIN_PASSWORD: ADMIN_PASSWORD,
    });
    const plan = await createPolicy(sy.client, {
      name: "Plan rules",
      type: "PLAN",
      body: PLAN_POLICY,
      labels: ["autoattach:*"],
    });
    expect(plan.engineType).toBe("REGO_V1");
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("fails a run whose real plan a plan policy denies", async () => {
    const stack = await createStack(sy.client, {
      name: "Denied",
      repository: await gitRepo({ "main.tf": resource("blocked") }),
      autodeploy: true,
    });
    const run = await triggerRun(sy.client, stack);
    const history = await waitForRunState(sy.client, stack, run, [
      "FAILED",
      "FINISHED",
      "APPLYING",
      "UNCONFIRMED",
    ]);
    expect(lastState(history)).toBe("FAILED");
    expect(history.at(-1)?.note).toContain(
      "denied by plan policy: Plan rules: terraform_data.blocked may not be created",
    );
    expect(history.map((h) => h.state)).not.toContain("APPLYING");

    // The policy sampled the input: the real plan's resource changes.
    const records = await sy.client.request<{
      policy: { evaluationRecords: Array<{ key: string; outcome: string }> };
    }>(
      `query($policyId: ID!){policy(id: $policyId){id,evaluationRecords{key,outcome,timestamp}}}`,
      { policyId: "plan-rules" },
    );
    const denied = records.policy.evaluationRecords.find(
      (r) => r.outcome === "deny",
    );
    expect(denied).toBeDefined();
    const sample = await sy.client.request<{
      policy: { evaluationSample: { input: string; body: string } };
    }>(
      `query($key: String!, $policyId: ID!){policy(id: $policyId){evaluationSample(key: $key){input,body}}}`,
      { key: denied?.key ?? "", policyId: "plan-rules" },
    );
    const input = JSON.parse(sample.policy.evaluationSample.input) as {
      spacelift: { run: { id: string }; stack: { id: string } };
      terraform: {
        resource_changes: Array<{
          address: string;
          change: { actions: string[] };
        }>;
      };
    };
    expect(input.spacelift.run.id).toBe(run);
    expect(input.spacelift.stack.id).toBe(stack);
    expect(input.terraform.resource_changes).toEqual([
      expect.objectContaining({
        address: "terraform_data.blocked",
        change: expect.objectContaining({ actions: ["create"] }),
      }),
    ]);
  }, 240_000);

  it("asks for confirmation when a plan policy warns, even with autodeploy", async () => {
    const stack = await createStack(sy.client, {
      name: "Warned",
      repository: await gitRepo({ "main.tf": resource("warned") }),
      autodeploy: true,
    });
    const run = await triggerRun(sy.client, stack);
    const history = await waitForRunState(sy.client, stack, run, [
      "UNCONFIRMED",
      "FAILED",
      "FINISHED",
      "APPLYING",
    ]);
    expect(lastState(history)).toBe("UNCONFIRMED");
    expect(history.at(-1)?.note).toContain(
      "plan policy warnings: Plan rules: terraform_data.warned needs a second look",
    );
  }, 240_000);

  it("autodeploys a plan the policies pass", async () => {
    const stack = await createStack(sy.client, {
      name: "Passing",
      repository: await gitRepo({ "main.tf": resource("fine") }),
      autodeploy: true,
    });
    const run = await triggerRun(sy.client, stack);
    const history = await waitForRunState(sy.client, stack, run, [
      "FINISHED",
      "FAILED",
      "UNCONFIRMED",
    ]);
    expect(lastState(history)).toBe("FINISHED");
    expect(history.map((h) => h.state)).toContain("APPLYING");
  }, 240_000);

  it("holds a run until an approval policy has two approvals", async () => {
    const stack = await createStack(sy.client, {
      name: "Gated",
      repository: await gitRepo({ "main.tf": resource("gated") }),
    });
    const approval = await createPolicy(sy.client, {
      name: "Two approvals",
      type: "APPROVAL",
      body: APPROVAL_POLICY,
    });
    expect(approval.engineType).toBe("REGO_V0");
    await sy.client.request(POLICY_ATTACH, { id: approval.id, stack });

    const login = await breakGlassToken(sy.base);
    expect(login.status).toBe(200);
    const userToken = ((await login.json()) as { token: string }).token;
    const reviewAsUser = async (run: string) => {
      const r = await graphql<{ runReview: { id: string } }>(
        sy.base,
        RUN_REVIEW,
        { decision: "APPROVE", note: "fine by me", run, stack },
        userToken,
      );
      expect(r.errors).toBeUndefined();
    };
    const reviewAsKey = (run: string, decision = "APPROVE") =>
      sy.client.request(RUN_REVIEW, {
        decision,
        note: "looked at it",
        run,
        stack,
      });
    // Bounded check that the run stays where it is for a while.
    const staysIn = async (run: string, state: string) => {
      for (let i = 0; i < 15; i++) {
        expect(lastState(await runHistory(sy.client, stack, run))).toBe(state);
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const run = await triggerRun(sy.client, stack);
    await staysIn(run, "QUEUED");
    await reviewAsKey(run);
    await staysIn(run, "QUEUED");
    await reviewAsUser(run);
    // Approved in QUEUED: it plans, then waits for two approvals again to be confirmed.
    await waitForRunState(sy.client, stack, run, ["UNCONFIRMED"]);
    await expect(
      sy.client.request(RUN_CONFIRM, { run, stack }),
    ).rejects.toThrow(/approval policy/);
    await reviewAsKey(run);
    await reviewAsUser(run);
    await waitFor("the approval of the unconfirmed run", async () => {
      try {
        await sy.client.request(RUN_CONFIRM, { run, stack });
        return true;
      } catch {
        return false;
      }
    });
    await waitForRunState(sy.client, stack, run, ["FINISHED"]);
    // Every review stays listed on the run, oldest first: two in QUEUED, two in UNCONFIRMED.
    const reviews = await sy.client.request<{
      stack: {
        run: {
          stackyardReviews: Array<{ decision: string; state: string }>;
        };
      };
    }>(
      `query($stack: ID!, $run: ID!){stack(id: $stack){run(id: $run){stackyardReviews{decision state}}}}`,
      { stack, run },
    );
    expect(
      reviews.stack.run.stackyardReviews.map((r) => `${r.decision}@${r.state}`),
    ).toEqual([
      "APPROVE@QUEUED",
      "APPROVE@QUEUED",
      "APPROVE@UNCONFIRMED",
      "APPROVE@UNCONFIRMED",
    ]);

    // A rejection fails the run at once.
    const rejected = await triggerRun(sy.client, stack);
    await staysIn(rejected, "QUEUED");
    await reviewAsKey(rejected, "REJECT");
    const history = await waitForRunState(sy.client, stack, rejected, [
      "FAILED",
    ]);
    expect(history.at(-1)?.note).toContain(
      "Rejected by approval policy Two approvals",
    );
  }, 300_000);

  it("keeps a warned proposed run in PENDING_REVIEW until the approval policy approves", async () => {
    const stack = await createStack(sy.client, {
      name: "Reviewed",
      repository: await gitRepo({ "main.tf": resource("warned") }),
    });
    await sy.client.request(POLICY_ATTACH, { id: "two-approvals", stack });
    const login = await breakGlassToken(sy.base);
    const userToken = ((await login.json()) as { token: string }).token;
    const approveTwice = async (run: string) => {
      await sy.client.request(RUN_REVIEW, {
        decision: "APPROVE",
        note: "ok",
        run,
        stack,
      });
      const r = await graphql(
        sy.base,
        RUN_REVIEW,
        { decision: "APPROVE", note: "ok", run, stack },
        userToken,
      );
      expect(r.errors).toBeUndefined();
    };
    const run = await triggerRun(sy.client, stack, "PROPOSED");
    await approveTwice(run);
    const pending = await waitForRunState(sy.client, stack, run, [
      "PENDING_REVIEW",
      "FINISHED",
      "FAILED",
    ]);
    expect(lastState(pending)).toBe("PENDING_REVIEW");
    expect(pending.at(-1)?.note).toContain("plan policy warnings");
    await approveTwice(run);
    const history = await waitForRunState(sy.client, stack, run, ["FINISHED"]);
    expect(history.at(-1)?.note).toContain(
      "Approved by approval policy Two approvals",
    );
  }, 240_000);

  it("starts a dependent stack's run from a trigger policy", async () => {
    const downstream = await createStack(sy.client, {
      name: "Downstream",
      repository: await gitRepo({ "main.tf": resource("down") }),
      autodeploy: true,
    });
    const upstream = await createStack(sy.client, {
      name: "Upstream",
      repository: await gitRepo({ "main.tf": resource("up") }),
      autodeploy: true,
    });
    expect(downstream).toBe("downstream");
    const trigger = await createPolicy(sy.client, {
      name: "Then downstream",
      type: "TRIGGER",
      body: TRIGGER_POLICY,
    });
    await sy.client.request(POLICY_ATTACH, { id: trigger.id, stack: upstream });

    const run = await triggerRun(sy.client, upstream);
    await waitForRunState(sy.client, upstream, run, ["FINISHED"]);
    const started = await waitFor("a run on the downstream stack", async () => {
      const data = await sy.client.request<{
        stack: { runs: Array<{ id: string }> };
      }>(`query($id: ID!){stack(id: $id){runs{id}}}`, { id: downstream });
      return data.stack.runs[0]?.id;
    });
    const history = await waitForRunState(sy.client, downstream, started, [
      "FINISHED",
    ]);
    expect(history[0]?.note).toContain(
      `Triggered by a trigger policy after run ${run} of stack ${upstream} ended (FINISHED)`,
    );
  }, 300_000);

  it("lists, creates and simulates policies from the CLI", async () => {
    const target = { base: sy.base, port: sy.port, dataDir: sy.dataDir };
    const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-rego-"));
    const good = path.join(dir, "good.rego");
    await writeFile(
      good,
      'package spacelift\n\ndeny[msg] {\n  input.terraform.resource_changes[_].type == "x"\n  msg := "no x"\n}\n',
    );
    const created = await cliAgainst(target, [
      "policy",
      "create",
      "--name",
      "CLI plan",
      "--type",
      "PLAN",
      "--file",
      good,
    ]);
    expect(created.code, created.out).toBe(0);
    expect(created.out).toContain("cli-plan\tREGO_V0");

    const broken = path.join(dir, "broken.rego");
    await writeFile(broken, "package spacelift\n\nallow := http.send({})\n");
    const refused = await cliAgainst(target, [
      "policy",
      "create",
      "--name",
      "Broken",
      "--type",
      "PLAN",
      "--file",
      broken,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(
      /line 3, column \d+: the built-in http.send is disabled/,
    );

    const listed = await cliAgainst(target, [
      "policy",
      "list",
      "--type",
      "PLAN",
    ]);
    expect(listed.code, listed.out).toBe(0);
    expect(listed.out).toContain("cli-plan\tPLAN\tREGO_V0");
    expect(listed.out).toContain("plan-rules\tPLAN\tREGO_V1\tautoattach:*");

    const simulated = await cliAgainst(target, [
      "policy",
      "simulate",
      "--id",
      "cli-plan",
      "--input",
      JSON.stringify({ terraform: { resource_changes: [{ type: "x" }] } }),
    ]);
    expect(simulated.code, simulated.out).toBe(0);
    expect(JSON.parse(simulated.out.trim())).toEqual({ deny: ["no x"] });
  }, 120_000);

  it("consults login policies at the break-glass login", async () => {
    const created = await createPolicy(sy.client, {
      name: "No break-glass from here",
      type: "LOGIN",
      body: `package spacelift\n\nimport rego.v1\n\ndeny if input.session.login == "${ADMIN_USER}"\n`,
    });
    const refused = await breakGlassToken(sy.base);
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain("login refused by login policy");
    await sy.client.request(`mutation($id: ID!){policyDelete(id: $id){id}}`, {
      id: created.id,
    });
    expect((await breakGlassToken(sy.base)).status).toBe(200);
  }, 60_000);
});
