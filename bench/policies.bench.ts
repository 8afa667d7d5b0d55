import { ADMIN } from "../apps/server/test/stacks-fixtures.ts";
import { createPushPolicyDecider } from "../apps/server/src/modules/policies/index.ts";
import { report, startBenchServer, timeIt } from "./bench-kit.ts";

/**
 * Policy evaluation latency per type on a real server (scratch database, the embedded
 * OPA): each type's whole decision (input document built from the database, every
 * applicable policy evaluated by OPA, results combined, flags stored), p50 and p99,
 * against a baseline measured in the same run: OPA evaluating a trivial
 * `allow := true` policy through the same client. No assertions.
 */
const N = Number(process.env.BENCH_POLICY_ITERATIONS ?? 200);

const env = await startBenchServer();
const { app } = env.server;
const { service, decisions, evaluation } = app.policies;
try {
  const { db } = app;
  const stackId = "bench-policies";
  await db
    .insertInto("stacks")
    .values({
      id: stackId,
      name: stackId,
      space_id: "root",
      repository: "org/repo",
      branch: "main",
      labels: ["bench"],
    })
    .execute();
  const runRow = await db
    .insertInto("runs")
    .values({
      id: "run_bench_policies",
      stack_id: stackId,
      type: "TRACKED",
      blocking: true,
      state: "FINISHED",
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  const run = {
    id: runRow.id,
    stackId,
    type: runRow.type,
    state: runRow.state,
    commitSha: "abc1234",
    commitMessage: "bench",
    commitAuthor: "bench",
    commitAt: null,
    branch: "main",
    command: null,
    triggeredBy: "bench",
    driftDetection: false,
    runtimeConfig: null,
    userMetadata: [],
    createdAt: runRow.created_at,
    updatedAt: runRow.updated_at,
  };

  const create = (name: string, type: string, body: string) =>
    service.create(ADMIN, {
      name,
      type,
      body,
      labels:
        type === "LOGIN" || type === "NOTIFICATION" ? [] : ["autoattach:bench"],
    });
  await create("Baseline", "INTENT", "package spacelift\n\nallow := true\n");
  await create(
    "Plan",
    "PLAN",
    `package spacelift

import rego.v1

deny contains sprintf("%s deleted", [rc.address]) if {
  some rc in input.terraform.resource_changes
  "delete" in rc.change.actions
  rc.type == "aws_db_instance"
}

warn contains sprintf("%d changes", [count(input.terraform.resource_changes)]) if {
  count(input.terraform.resource_changes) > 40
}
`,
  );
  await create(
    "Approval",
    "APPROVAL",
    `package spacelift

approve { count(input.reviews.current.approvals) >= 2 }
reject { count(input.reviews.current.rejections) > 0 }
`,
  );
  await create(
    "Trigger",
    "TRIGGER",
    `package spacelift

import rego.v1

trigger contains s.id if {
  some s in input.stacks
  "depends-on:bench" in s.labels
  input.run.state == "FINISHED"
}
`,
  );
  await create(
    "Push",
    "GIT_PUSH",
    `package spacelift

import rego.v1

track if input.push.branch == input.stack.branch
propose if input.push.branch != input.stack.branch
ignore if startswith(input.push.message, "[skip]")
`,
  );
  await create(
    "Login",
    "LOGIN",
    `package spacelift

import rego.v1

allow if endswith(input.session.login, "@example.com")
admin if input.session.login == "root@example.com"
deny if input.request.remote_ip == "10.0.0.1"
`,
  );
  await create(
    "Notify",
    "NOTIFICATION",
    `package spacelift

import rego.v1

inbox contains {"title": "run failed", "body": input.run_updated.note, "severity": "ERROR"} if {
  input.run_updated.state == "FAILED"
}
`,
  );

  const plan = {
    terraform_version: "1.10.10",
    resource_changes: Array.from({ length: 50 }, (_, i) => ({
      address: `terraform_data.r${i}`,
      type: "terraform_data",
      name: `r${i}`,
      provider_name: "terraform.io/builtin/terraform",
      change: {
        actions: ["create"],
        before: null,
        after: { input: `value-${i}` },
      },
    })),
  };
  const reviews = [1, 2, 3].map((i) => ({
    author: `reviewer-${i}`,
    decision: "APPROVE" as const,
    note: null,
    state: "QUEUED",
    createdAt: new Date(),
  }));
  const decidePush = createPushPolicyDecider(evaluation, () => ({
    action: "ignore" as const,
    reason: "default",
  }));
  const pushInput = {
    push: {
      affected_files: ["main.tf"],
      author: "bench",
      branch: "main",
      created_at: Date.now() * 1e6,
      hash: "abc1234",
      message: "change",
      tag: "",
    },
    pull_request: null,
    stack: {
      id: stackId,
      name: stackId,
      branch: "main",
      project_root: "",
      additional_project_globs: [],
      labels: ["bench"],
      namespace: "org",
      repository: "repo",
      provider: "GIT",
      autodeploy: false,
      administrative: false,
      state: "FINISHED",
      space: { id: "root" },
      disabled: false,
      locked_by: null,
    },
    in_progress: [],
    vcs_integration: null,
  };

  const [baselinePolicy] = await evaluation.policiesForStack(stackId, "INTENT");
  if (!baselinePolicy) throw new Error("baseline policy not attached");
  // Warm up: start OPA and push every module once.
  await evaluation.evaluatePolicies("INTENT", [baselinePolicy], {});
  const baseline = await timeIt(N, async () => {
    await evaluation.evaluatePolicies("INTENT", [baselinePolicy], {});
  });

  const cases: Array<[string, () => Promise<unknown>]> = [
    ["PLAN (50 resource changes)", () => decisions.decidePlan(run, plan)],
    [
      "APPROVAL (3 reviews)",
      () => decisions.decideApproval(run, reviews, new Date(0)),
    ],
    ["TRIGGER", () => decisions.decideTrigger(run)],
    ["GIT_PUSH", () => decidePush(pushInput)],
    [
      "LOGIN",
      () =>
        decisions.decideLogin({
          login: "dev@example.com",
          name: "dev",
          machine: false,
          admin: false,
          remoteIp: "127.0.0.1",
        }),
    ],
    [
      "NOTIFICATION",
      () =>
        decisions.recordNotifications({
          run: { ...run, state: "FAILED" },
          stateVersion: 1,
          note: "bench",
          username: "bench",
        }),
    ],
  ];
  for (const [name, fn] of cases) {
    await fn();
    const samples = await timeIt(N, async () => {
      await fn();
    });
    report(`policy ${name} (vs trivial allow := true)`, samples, baseline);
  }
} finally {
  await env.close();
}
