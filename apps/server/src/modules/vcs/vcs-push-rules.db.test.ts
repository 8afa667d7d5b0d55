import { existsSync } from "node:fs";
import { loopbackEgress } from "../../../test/egress.ts";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { vcsRunsPort, vcsStacksPort } from "../../app.ts";
import { createRunKit, silentLog, type RunKit } from "../../../test/run-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN, testEncryptor } from "../../../test/stacks-fixtures.ts";
import {
  startFakeGithub,
  type FakeGithub,
} from "../../../test/fakes/fake-github.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import {
  createPoliciesModule,
  createPushFlagRecorder,
  createPushPolicyDecider,
  findOpaBinary,
  type PoliciesModule,
} from "../policies/index.ts";
import {
  createVcsModule,
  decidePush,
  PUSH_FAILURE_JOB,
  type PushFailureJob,
  type VcsModule,
} from "./index.ts";
import { createGithubAdapter } from "./providers/index.ts";
import type { PipelineEvent } from "./vcs-push-pipeline.ts";
import { findStack } from "./vcs-stack-query.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// Every GIT_PUSH rule acted on, with a real OPA evaluating a real push policy, real
// Postgres, the runs and stacks modules' own actions, and the real GitHub App adapter
// against the fake GitHub API for the failed commit status.

const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

// Markers in the commit message switch the rules on.
const PUSH_POLICY = `package spacelift

import rego.v1

track if input.push.branch == input.stack.branch

notrigger if contains(input.push.message, "[notrigger]")

prioritize if contains(input.push.message, "[prio]")

cancel contains run.id if {
  contains(input.push.message, "[cancel]")
  some run in input.in_progress
}

cancel contains "run_that_does_not_exist" if contains(input.push.message, "[cancel]")

lock := "alice" if contains(input.push.message, "[lock]")

unlock := "alice" if contains(input.push.message, "[unlock]")

fail if contains(input.push.message, "[fail]")

message := "Deploys are frozen until Monday" if contains(input.push.message, "[fail]")

flag contains "from-push" if contains(input.push.message, "[flag]")

module_version := "1.2.3" if contains(input.push.message, "[release]")
`;

describe.skipIf(!haveOpa)("push policy rules acted on", () => {
  let kit: RunKit;
  let dir: string;
  let policies: PoliciesModule;
  let github: FakeGithub;
  let vcs: VcsModule;
  let integrationId: string;
  let shaSeq = 0;

  beforeAll(async () => {
    kit = await createRunKit();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-push-rules-"));
    const storage = createFsBlobStore(dir);
    await storage.ensureBuckets(["policy-inputs"]);
    policies = createPoliciesModule({
      db: kit.t.db,
      access: kit.stacks.access,
      stacks: kit.stacks.stacks,
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
      publicUrl: "http://stackyard.test",
      clock: () => kit.now.value,
      log: silentLog,
    });
    github = await startFakeGithub();
    github.install("acme");
    vcs = createVcsModule({
      egress: loopbackEgress,
      db: kit.t.db,
      encryptor: testEncryptor(),
      access: kit.stacks.access,
      runs: vcsRunsPort(kit.runs.service),
      adapters: {
        GITHUB: createGithubAdapter({ fetch: loopbackEgress.fetch }),
      },
      log: silentLog,
      clock: () => kit.now.value,
      dataDir: "/nonexistent",
      publicUrl: "http://stackyard.test",
      webhooksEndpoint: "http://stackyard.test",
      // As app.ts wires them.
      pushDecider: createPushPolicyDecider(policies.evaluation, decidePush),
      stacks: vcsStacksPort(kit.stacks.stacks),
      recordRunFlags: createPushFlagRecorder(() => kit.now.value),
    });
    const integration = await vcs.integrations.create(ADMIN, {
      name: "github-push-rules",
      provider: "GITHUB",
      isDefault: true,
      apiUrl: github.url,
      gitUrl: "https://github.example.com",
      appId: github.app.id,
      privateKey: github.app.privateKeyPem,
      webhookSecret: "w",
    });
    integrationId = integration.id;
    await policies.service.create(ADMIN, {
      name: "push-rules",
      type: "GIT_PUSH",
      body: PUSH_POLICY,
    });
  }, 60_000);

  afterAll(async () => {
    await policies?.stop();
    await github?.close();
    await kit?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await kit.t.db.deleteFrom("queue_messages").execute();
  });

  /** A GitHub stack on acme/infra with the push policy attached. */
  async function newStack() {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "acme",
      repository: "infra",
      vcs_integration_id: integrationId,
    });
    await policies.service.attach(ADMIN, "push-rules", stack.id);
    return stack;
  }

  /** Applies a push to main with `message` to the stack, as the webhook handler does. */
  async function push(stackId: string, message: string) {
    shaSeq += 1;
    const sha = shaSeq.toString(16).padStart(40, "a");
    const ev: PipelineEvent = {
      eventId: vcs.newEventId(),
      source: "WEBHOOK",
      deliveryId: `d-${shaSeq}`,
      integration: {
        id: integrationId,
        name: "github-push-rules",
        provider: "GITHUB",
        isDefault: true,
        labels: [],
        spaceId: "root",
      },
      event: {
        kind: "push",
        repository: "acme/infra",
        branch: "main",
        tag: null,
        sha,
        beforeSha: null,
        message,
        author: "grace",
        createdAt: kit.now.value,
        affectedFiles: ["main.tf"],
      },
    };
    await vcs.pipeline.recordEvent(ev, null);
    const stack = await findStack(kit.t.db, stackId);
    const outcome = await vcs.pipeline.applyToStack(ev, stack!);
    const [recorded] = await vcs.events.listForStack(ADMIN, stackId, 1);
    return { sha, ev, stack: stack!, outcome: outcome!, recorded: recorded! };
  }

  const runRow = (id: string) =>
    kit.t.db
      .selectFrom("runs")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();

  it("records a module_version as seen and not applied, and still tracks", async () => {
    const stack = await newStack();
    const { outcome, recorded } = await push(stack.id, "Cut it [release]");
    expect(outcome.outcome).toBe("TRACKED");
    expect(recorded.rules).toEqual(["track", "module_version"]);
    expect(recorded.actions).toContain(
      "module_version 1.2.3 not applied: Stackyard has no module registry, so no module version was created",
    );
    expect(recorded.reason).toContain("rules: track, module_version");
    expect(recorded.reason).toContain("module_version 1.2.3 not applied");
  });

  it("cancels the stack's queued runs, notes the others, prioritizes the new run and puts the flags on it", async () => {
    const stack = await newStack();
    const queued = await kit.runs.service.trigger(ADMIN, {
      stackId: stack.id,
      runType: "PROPOSED",
    });
    const started = await kit.runs.service.trigger(ADMIN, {
      stackId: stack.id,
      runType: "PROPOSED",
    });
    await kit.walk(started, ["READY", "PREPARING"]);

    const { outcome, recorded } = await push(
      stack.id,
      "Ship it [cancel] [prio] [flag]",
    );
    expect(outcome.outcome).toBe("TRACKED");
    expect(recorded.rules).toEqual(["track", "cancel", "prioritize", "flag"]);
    expect(recorded.actions).toContain(`canceled run ${queued.id}`);
    expect(
      recorded.actions.find((a) => a.startsWith(`run ${started.id}`)),
    ).toMatch(/not canceled: .*already started/);
    expect(
      recorded.actions.find((a) => a.startsWith("run run_that_does_not_exist")),
    ).toContain("not canceled");
    expect(recorded.actions).toContain("run prioritized");
    expect(recorded.actions).toContain("flags set on the run: from-push");
    expect(recorded.reason).toContain("tracked by push policy push-rules");
    expect(recorded.reason).toContain("rules: track, cancel, prioritize, flag");

    expect((await runRow(queued.id)).state).toBe("CANCELED");
    expect((await runRow(started.id)).state).toBe("PREPARING");
    const created = await runRow(outcome.runId!);
    expect(created).toMatchObject({ type: "TRACKED", prioritized: true });
    // What later policy types on the run read as run.flags.
    expect(await policies.evaluation.flagsOf(created.id)).toEqual([
      "from-push",
    ]);
    // A redelivered event does nothing twice.
    const again = await vcs.pipeline.applyToStack(
      (await push(stack.id, "noop")).ev,
      (await findStack(kit.t.db, stack.id))!,
    );
    expect(again).toBeNull();
  });

  it("notrigger creates no run but moves the tracked commit to the pushed sha", async () => {
    const stack = await newStack();
    const { sha, outcome, recorded } = await push(
      stack.id,
      "Only record it [notrigger]",
    );
    expect(outcome).toMatchObject({ outcome: "NOTRIGGER", runId: null });
    expect(recorded).toMatchObject({ outcome: "NOTRIGGER", runId: null });
    expect(recorded.rules).toEqual(["track", "notrigger"]);
    expect(recorded.actions).toEqual([
      `tracked commit moved to ${sha.slice(0, 12)}`,
    ]);
    const runs = await kit.t.db
      .selectFrom("runs")
      .select("id")
      .where("stack_id", "=", stack.id)
      .execute();
    expect(runs).toEqual([]);
    const row = await kit.t.db
      .selectFrom("stacks")
      .select(["tracked_commit_sha", "tracked_commit_set_by"])
      .where("id", "=", stack.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      tracked_commit_sha: sha,
      tracked_commit_set_by: "vcs/github/grace",
    });
    // A later manual tracked run uses it.
    const manual = await kit.runs.service.trigger(ADMIN, {
      stackId: stack.id,
      runType: "TRACKED",
    });
    expect(manual.commitSha).toBe(sha);
  });

  it("locks for the lock id, lets that push run, refuses others until unlocked, and never takes another holder's lock", async () => {
    const stack = await newStack();
    const locked = await push(stack.id, "Take it [lock]");
    expect(locked.outcome.outcome).toBe("TRACKED");
    expect(locked.recorded.actions).toContain("locked (lock id alice)");
    const lockedBy = async () =>
      (
        await kit.t.db
          .selectFrom("stacks")
          .select("locked_by")
          .where("id", "=", stack.id)
          .executeTakeFirstOrThrow()
      ).locked_by;
    expect(await lockedBy()).toBe("alice");

    const refused = await push(stack.id, "Someone else's change");
    expect(refused.outcome).toMatchObject({ outcome: "IGNORED", runId: null });
    expect(refused.recorded.reason).toMatch(/no run: .*alice/);

    const unlocked = await push(stack.id, "Release it [unlock]");
    expect(unlocked.recorded.actions).toContain("unlocked (lock id alice)");
    expect(unlocked.outcome.outcome).toBe("TRACKED");
    expect(await lockedBy()).toBeNull();

    // A user's lock is never taken over nor released by a policy's lock id.
    await kit.t.db
      .updateTable("stacks")
      .set({ locked_by: "bob" })
      .where("id", "=", stack.id)
      .execute();
    const blocked = await push(stack.id, "Try [lock] [unlock]");
    expect(blocked.recorded.actions).toEqual([
      "not unlocked: the stack is not locked by alice",
      "not locked: the stack is locked by bob",
    ]);
    expect(blocked.outcome.outcome).toBe("IGNORED");
    expect(await lockedBy()).toBe("bob");
  });

  it("fail creates no run, records the message and sets the stack's commit status to failure", async () => {
    const stack = await newStack();
    const { sha, outcome, recorded } = await push(stack.id, "Hotfix [fail]");
    expect(outcome).toMatchObject({ outcome: "FAILED", runId: null });
    expect(recorded.reason).toContain(
      "push policy fail: Deploys are frozen until Monday",
    );
    expect(recorded.rules).toEqual(["track", "fail"]);
    const runs = await kit.t.db
      .selectFrom("runs")
      .select("id")
      .where("stack_id", "=", stack.id)
      .execute();
    expect(runs).toEqual([]);

    const jobs = await kit.t.db
      .selectFrom("queue_messages")
      .select(["name", "payload"])
      .where("name", "=", PUSH_FAILURE_JOB)
      .execute();
    expect(jobs).toHaveLength(1);
    await vcs.reportPushFailure(jobs[0]!.payload as PushFailureJob);
    const statuses = github.statuses("acme/infra", sha);
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toMatchObject({
      state: "failure",
      context: `stackyard/${stack.id}`,
      description: "Deploys are frozen until Monday",
      target_url: `http://stackyard.test/stack/${stack.id}`,
    });
  });

  it("keeps the default behaviour, with no rules recorded, on a stack without push policies", async () => {
    const stack = await buildStack(kit.t.db, {
      provider: "GITHUB",
      namespace: "acme",
      repository: "infra",
      vcs_integration_id: integrationId,
    });
    const { outcome, recorded } = await push(stack.id, "[fail] [notrigger]");
    expect(outcome.outcome).toBe("TRACKED");
    expect(recorded.rules).toEqual([]);
    expect(recorded.actions).toEqual([]);
  });
});
