import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import { createLogger } from "../../platform/log/logger.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import { createStacksModule } from "../stacks/index.ts";
import {
  createPoliciesModule,
  createPushPolicyDecider,
  findOpaBinary,
  type PoliciesModule,
  type PolicyRunFacts,
} from "./index.ts";
import * as repo from "./policy-repo.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// One policy per type, written against the input keys Spacelift documents (spacelift-
// reference §2), evaluated on a real OPA against inputs built from real rows: each
// decision must change with those keys, so a key missing or misnamed fails the test.

const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

const log = createLogger({ level: "error", format: "json" });
const T0 = new Date("2026-01-01T00:00:00Z");
const at = (s: number) => new Date(T0.getTime() + s * 1000);

describe.skipIf(!haveOpa)("policy inputs, key for key, on a real OPA", () => {
  let t: TestDatabase;
  let dir: string;
  let m: PoliciesModule;

  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-policy-inputs-"));
    const storage = createFsBlobStore(dir);
    await storage.ensureBuckets(["policy-inputs"]);
    const stacks = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
    });
    m = createPoliciesModule({
      db: t.db,
      access: stacks.access,
      stacks: stacks.stacks,
      storage,
      samplesBucket: "policy-inputs",
      opaUrl: null,
      binDir: path.dirname(OPA),
      timeoutsMs: {
        plan: 45_000,
        login: 5_000,
        push: 10_000,
        approval: 5_000,
        trigger: 5_000,
        notification: 10_000,
        intent: 5_000,
        combined: 300_000,
      },
      publicUrl: "https://stackyard.example/",
      clock: () => new Date(),
      log,
    });
    await t.db
      .insertInto("spaces")
      .values({
        id: "team-a",
        name: "Team A",
        parent_space_id: "root",
        labels: ["team:ops"],
        // Its stacks use the root space's auto-attached policies.
        inherit_entities: true,
      })
      .execute();
  }, 60_000);

  afterAll(async () => {
    await m?.stop();
    await t?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function insertRun(
    id: string,
    stackId: string,
    state: string,
    over: Record<string, unknown> = {},
  ): Promise<PolicyRunFacts> {
    await t.db
      .insertInto("runs")
      .values({
        id,
        stack_id: stackId,
        type: "TRACKED",
        blocking: true,
        state,
        worker_pool_id: null,
        commit_sha: "c".repeat(40),
        commit_message: "change things",
        commit_author: "alice",
        commit_at: at(-60),
        branch: "main",
        triggered_by: "alice",
        created_at: at(0),
        updated_at: at(0),
        ...over,
      })
      .execute();
    const facts = await repo.runFacts(t.db, id);
    if (!facts) throw new Error("run not inserted");
    return facts;
  }

  it("LOGIN: request, session, spaces and roles", async () => {
    await m.service.create(ADMIN, {
      name: "Ops login",
      type: "LOGIN",
      body: `package spacelift

import rego.v1

allow if {
  "ops" in input.session.teams
  input.request.remote_ip == "10.0.0.1"
  input.request.timestamp_ns > 1000000000000000000
  input.session.account_name == "stackyard"
  not input.session.machine
}

roles[space.id] contains "space-writer" if {
  some space in input.spaces
  "team:ops" in space.labels
  "ops" in input.session.teams
}
`,
    });
    const args = {
      login: "alice",
      name: "Alice",
      machine: false,
      admin: false,
      remoteIp: "10.0.0.1",
    };
    const ops = await m.decisions.decideLogin({ ...args, teams: ["ops"] });
    expect(ops).toMatchObject({
      allow: true,
      roles: { "team-a": ["space-writer"] },
    });
    const other = await m.decisions.decideLogin({ ...args, teams: ["dev"] });
    expect(other).toMatchObject({ allow: false, roles: {} });
    const elsewhere = await m.decisions.decideLogin({
      ...args,
      teams: ["ops"],
      remoteIp: "10.0.0.2",
    });
    // Roles still granted, so the login is allowed: the IP only gates `allow`.
    expect(elsewhere.roles).toEqual({ "team-a": ["space-writer"] });
    await m.service.delete(ADMIN, "ops-login");
  });

  it("PLAN: run.changes in Spacelift's entity shape, stack, commit, nanosecond times, data.spacelift", async () => {
    await buildStack(t.db, {
      id: "plan-stack",
      labels: ["inputs-plan"],
      space_id: "team-a",
      tracked_commit_sha: "b".repeat(40),
      tracked_commit_author: "bob",
    } as never);
    await m.service.create(ADMIN, {
      name: "Replacements",
      type: "PLAN",
      labels: ["autoattach:inputs-plan"],
      body: `package spacelift

import rego.v1

deny contains sprintf("%s is replaced in %s", [c.entity.address, input.spacelift.stack.space.name]) if {
  some c in input.spacelift.run.changes
  c.action == "destroy-Before-create-replaced"
  c.entity.entity_type == "resource"
  c.entity.type == "aws_instance"
  c.phase == "plan"
  not c.moved
}

warn contains "author differs from the tracked commit's" if {
  input.spacelift.run.commit.author != input.spacelift.stack.tracked_commit.author
  input.spacelift.commit.hash == input.spacelift.run.commit.hash
}

warn contains "times are nanoseconds" if {
  input.spacelift.run.created_at > 1000000000000000000
  input.spacelift.run.commit.created_at > 1000000000000000000
  input.spacelift.request.timestamp_ns > input.spacelift.run.created_at
}

warn contains "denied" if count(data.spacelift.deny) > 0

flag contains "plan-checked"
`,
    });
    const run = await insertRun("run_plan", "plan-stack", "PLANNING");
    const replace = {
      terraform_version: "1.8.0",
      resource_changes: [
        {
          address: "aws_instance.web",
          type: "aws_instance",
          name: "web",
          provider_name: "registry.terraform.io/hashicorp/aws",
          change: {
            actions: ["delete", "create"],
            before: { ami: "a" },
            after: { ami: "b" },
          },
        },
      ],
    };
    const denied = await m.decisions.decidePlan(run, replace);
    expect(denied.errors).toEqual([]);
    expect(denied.deny).toEqual([
      "Replacements: aws_instance.web is replaced in Team A",
    ]);
    expect(denied.warn.sort()).toEqual([
      "Replacements: author differs from the tracked commit's",
      "Replacements: denied",
      "Replacements: times are nanoseconds",
    ]);
    const create = {
      ...replace,
      resource_changes: [
        {
          ...replace.resource_changes[0]!,
          change: { actions: ["create"], before: null, after: { ami: "b" } },
        },
      ],
    };
    const allowed = await m.decisions.decidePlan(run, create);
    expect(allowed.deny).toEqual([]);
    expect(allowed.warn).not.toContain("Replacements: denied");
  });

  it("APPROVAL: reviews.current/older with author, session, request, state, state_version", async () => {
    await buildStack(t.db, { id: "approval-stack", labels: ["inputs-ap"] });
    await m.service.create(ADMIN, {
      name: "Two eyes",
      type: "APPROVAL",
      labels: ["autoattach:inputs-ap"],
      body: `package spacelift

import rego.v1

approve if {
  some a in input.reviews.current.approvals
  a.author != input.run.triggered_by
  a.session.login == a.author
  a.state == input.run.state
  a.state_version == 2
  a.request.timestamp_ns > 0
  is_array(a.author_roles)
}

reject if {
  some r in input.reviews.current.rejections
  r.author == "mallory"
}

reject if {
  some r in input.reviews.older
  r.author == "security"
  input.stack.id == "approval-stack"
}
`,
    });
    const run = await insertRun("run_ap", "approval-stack", "UNCONFIRMED");
    await t.db
      .insertInto("run_transitions")
      .values([
        {
          run_id: "run_ap",
          state_version: 1,
          state: "QUEUED",
          created_at: at(0),
        },
        {
          run_id: "run_ap",
          state_version: 2,
          state: "UNCONFIRMED",
          created_at: at(10),
        },
      ])
      .execute();
    const review = (
      author: string,
      decision: "APPROVE" | "REJECT",
      s: number,
    ) => ({
      author,
      decision,
      note: null,
      state: s >= 10 ? "UNCONFIRMED" : "QUEUED",
      createdAt: at(s),
    });
    const since = at(10);
    expect(
      (
        await m.decisions.decideApproval(
          run,
          [review("bob", "APPROVE", 12)],
          since,
        )
      ).decision,
    ).toBe("approve");
    // The run's own author approving does not count.
    expect(
      (
        await m.decisions.decideApproval(
          run,
          [review("alice", "APPROVE", 12)],
          since,
        )
      ).decision,
    ).toBe("undecided");
    // An approval given before the current state is `older`, not `current`.
    expect(
      (
        await m.decisions.decideApproval(
          run,
          [review("bob", "APPROVE", 5)],
          since,
        )
      ).decision,
    ).toBe("undecided");
    expect(
      (
        await m.decisions.decideApproval(
          run,
          [review("bob", "APPROVE", 12), review("mallory", "REJECT", 13)],
          since,
        )
      ).decision,
    ).toBe("reject");
    expect(
      (
        await m.decisions.decideApproval(
          run,
          [review("bob", "APPROVE", 12), review("security", "REJECT", 3)],
          since,
        )
      ).decision,
    ).toBe("reject");
  });

  it("TRIGGER: run.states_history, stacks[].queued_runs and workflow[]", async () => {
    await buildStack(t.db, { id: "tr-source", labels: ["inputs-tr"] });
    await buildStack(t.db, { id: "tr-b", labels: ["downstream"] });
    await buildStack(t.db, { id: "tr-c", labels: ["downstream"] });
    await m.service.create(ADMIN, {
      name: "Downstream",
      type: "TRIGGER",
      labels: ["autoattach:inputs-tr"],
      body: `package spacelift

import rego.v1

trigger contains s.id if {
  input.run.state == "FINISHED"
  some h in input.run.states_history
  h.state == "APPLYING"
  h.timestamp > 1000000000000000000
  some s in input.stacks
  "downstream" in s.labels
  s.queued_runs == 0
  not in_workflow(s.id)
}

in_workflow(id) if {
  some w in input.workflow
  w.stack_id == id
  w.type == "TRACKED"
}
`,
    });
    const run = await insertRun("run_tr", "tr-source", "FINISHED");
    await t.db
      .insertInto("run_transitions")
      .values([
        {
          run_id: "run_tr",
          state_version: 1,
          state: "QUEUED",
          created_at: at(0),
        },
        {
          run_id: "run_tr",
          state_version: 2,
          state: "APPLYING",
          created_at: at(5),
        },
        {
          run_id: "run_tr",
          state_version: 3,
          state: "FINISHED",
          created_at: at(9),
        },
      ])
      .execute();
    // tr-c has a queued run: left out by `queued_runs`.
    await insertRun("run_c_queued", "tr-c", "QUEUED");
    expect((await m.decisions.decideTrigger(run)).stackIds).toEqual(["tr-b"]);

    // Once a trigger policy started a run on tr-b from this one, tr-b is in the
    // run's workflow and the policy leaves it out.
    await insertRun("run_b", "tr-b", "FINISHED", { created_at: at(20) });
    await repo.recordTriggeredRun(t.db, {
      sourceRunId: "run_tr",
      stackId: "tr-b",
      runId: "run_b",
    });
    expect(await repo.workflowOf(t.db, "run_b")).toEqual([
      {
        id: "run_tr",
        stackId: "tr-source",
        state: "FINISHED",
        type: "TRACKED",
      },
      { id: "run_b", stackId: "tr-b", state: "FINISHED", type: "TRACKED" },
    ]);
    const again = await m.decisions.decideTrigger(run);
    expect(again).toEqual({ targets: [], stackIds: [], errors: [] });
  });

  it("GIT_PUSH: the VCS input's stack and in_progress runs read as every other type's", async () => {
    await buildStack(t.db, {
      id: "push-stack",
      labels: ["inputs-push"],
      space_id: "team-a",
    });
    await insertRun("run_wip", "push-stack", "QUEUED", {
      type: "PROPOSED",
      blocking: false,
      commit_message: "wip",
    });
    await m.service.create(ADMIN, {
      name: "Team pushes",
      type: "GIT_PUSH",
      labels: ["autoattach:inputs-push"],
      body: `package spacelift

import rego.v1

track if {
  "team:ops" in input.stack.space.labels
  input.stack.space.name == "Team A"
  input.push.branch == input.stack.branch
}

cancel contains r.id if {
  some r in input.in_progress
  r.commit.message == "wip"
  r.triggered_by == "alice"
  r.created_at > 1000000000000000000
}
`,
    });
    const decide = createPushPolicyDecider(m.evaluation, () => ({
      action: "ignore" as const,
      reason: "default",
    }));
    const input = (stackId: string) => ({
      push: {
        affected_files: ["main.tf"],
        author: "alice",
        branch: "main",
        created_at: 0,
        hash: "d".repeat(40),
        message: "push",
        tag: "",
      },
      pull_request: null,
      // The VCS module's own stack keys: no space name or labels of its own.
      stack: { id: stackId, branch: "main", space: { id: "team-a" } },
      in_progress: [
        {
          id: "run_wip",
          type: "PROPOSED",
          state: "QUEUED",
          branch: "main",
          commit: { hash: "c".repeat(40) },
          created_at: BigInt(at(0).getTime()) * 1_000_000n,
        },
      ],
      vcs_integration: null,
    });
    const decision = await decide(input("push-stack"));
    expect(decision.action).toBe("track");
    expect(decision.rules?.cancel).toEqual(["run_wip"]);
  });

  it("NOTIFICATION: routes on run_updated.timing, policy_receipts and urls", async () => {
    await buildStack(t.db, { id: "ntf-stack", labels: ["inputs-ntf"] });
    await buildStack(t.db, { id: "ntf-stack-2", labels: ["inputs-ntf"] });
    await m.service.create(ADMIN, {
      name: "Plan gate",
      type: "PLAN",
      labels: ["autoattach:inputs-ntf"],
      body: `package spacelift

import rego.v1

warn contains "look at this"

flag contains "needs-review"
`,
    });
    await m.service.create(ADMIN, {
      name: "Slow or flagged",
      type: "NOTIFICATION",
      body: `package spacelift

import rego.v1

inbox contains {"title": "slow plan", "body": input.run_updated.urls.run, "severity": "WARNING"} if {
  some t in input.run_updated.timing
  t.state == "PLANNING"
  t.duration >= 60000000000
}

slack contains {"channel_id": "C1", "message": concat(",", names)} if {
  names := [r.name |
    some r in input.run_updated.policy_receipts
    r.type == "PLAN"
    r.outcome == "warn"
    "needs-review" in r.flags
  ]
  count(names) > 0
  input.run_updated.run.policy_receipts == input.run_updated.policy_receipts
  count(input.webhook_endpoints) == 0
  input.run_updated.plan_policy_decision.warn == ["look at this"]
}
`,
    });
    const transitions = (runId: string, planningSeconds: number) =>
      t.db
        .insertInto("run_transitions")
        .values([
          {
            run_id: runId,
            state_version: 1,
            state: "QUEUED",
            created_at: at(0),
          },
          {
            run_id: runId,
            state_version: 2,
            state: "PLANNING",
            created_at: at(10),
          },
          {
            run_id: runId,
            state_version: 3,
            state: "UNCONFIRMED",
            created_at: at(10 + planningSeconds),
          },
        ])
        .execute();
    const rowsOf = (runId: string) =>
      t.db
        .selectFrom("policy_notifications")
        .select(["kind", "payload"])
        .where("run_id", "=", runId)
        .where("state_version", "=", 3)
        .orderBy("kind")
        .execute();

    // Slow planning, plan policy warned and flagged: both routes.
    const slow = await insertRun("run_slow", "ntf-stack", "UNCONFIRMED");
    await transitions("run_slow", 90);
    expect((await m.decisions.decidePlan(slow, null)).warn).toEqual([
      "Plan gate: look at this",
    ]);
    await m.decisions.recordNotifications({
      run: slow,
      stateVersion: 3,
      note: null,
      username: "alice",
    });
    expect(await rowsOf("run_slow")).toEqual([
      {
        kind: "inbox",
        payload: {
          title: "slow plan",
          body: "https://stackyard.example/stack/ntf-stack/run/run_slow",
          severity: "WARNING",
        },
      },
      { kind: "slack", payload: { channel_id: "C1", message: "Plan gate" } },
    ]);

    // Quick planning, the plan policy warned: only the receipts route.
    const quick = await insertRun("run_quick", "ntf-stack-2", "UNCONFIRMED");
    await transitions("run_quick", 5);
    await m.decisions.decidePlan(quick, null);
    await m.decisions.recordNotifications({
      run: quick,
      stateVersion: 3,
      note: null,
      username: "alice",
    });
    expect(await rowsOf("run_quick")).toEqual([
      { kind: "slack", payload: { channel_id: "C1", message: "Plan gate" } },
    ]);

    // Slow planning, no plan policy evaluated on the run: only the timing route.
    await t.db
      .updateTable("runs")
      .set({ state: "FINISHED" })
      .where("id", "=", "run_slow")
      .execute();
    const bare = await insertRun("run_bare", "ntf-stack", "UNCONFIRMED");
    await transitions("run_bare", 120);
    await m.decisions.recordNotifications({
      run: bare,
      stateVersion: 3,
      note: null,
      username: "alice",
    });
    expect((await rowsOf("run_bare")).map((r) => r.kind)).toEqual(["inbox"]);
  });
});
