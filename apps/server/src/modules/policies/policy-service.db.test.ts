import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildStack } from "../../../test/factories.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { createLogger } from "../../platform/log/logger.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import { ForbiddenError, ValidationError } from "../../platform/errors.ts";
import { createStacksModule } from "../stacks/index.ts";
import {
  createPoliciesModule,
  findOpaBinary,
  PolicyBodyInvalidError,
  type PoliciesModule,
} from "./index.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// Real OPA (built by scripts/setup-toolchain.sh) and real Postgres: validation at save,
// CRUD and attachments, evaluation, combination, timeouts, sampling, flags, login.
const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

const TIMEOUTS = {
  plan: 45_000,
  login: 5_000,
  push: 10_000,
  approval: 5_000,
  trigger: 1_000,
  notification: 10_000,
  intent: 5_000,
  combined: 300_000,
};

let t: TestDatabase;
let dir: string;
let m: PoliciesModule;
const log = createLogger({ level: "error", format: "json" });

const PLAN_V1 = `package spacelift

import rego.v1

deny contains sprintf("%s is deleted", [rc.address]) if {
  some rc in input.terraform.resource_changes
  "delete" in rc.change.actions
}

warn contains "big change" if count(input.terraform.resource_changes) > 2

sample := true
`;

const PLAN_V0 = `package spacelift

deny[msg] {
  input.terraform.resource_changes[_].type == "forbidden_thing"
  msg := "forbidden resource"
}
`;

describe.skipIf(!haveOpa)("policies with a real OPA", () => {
  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-policies-"));
    const storage = createFsBlobStore(dir);
    await storage.ensureBuckets(["policy-inputs"]);
    const stacksModule = createStacksModule({
      db: t.db,
      encryptor: testEncryptor(),
      clock: () => new Date(),
    });
    m = createPoliciesModule({
      db: t.db,
      access: stacksModule.access,
      stacks: stacksModule.stacks,
      storage,
      samplesBucket: "policy-inputs",
      opaUrl: null,
      binDir: path.dirname(OPA),
      timeoutsMs: TIMEOUTS,
      publicUrl: "http://localhost:1983",
      clock: () => new Date(),
      log,
    });
    await insertSpace(t.db, "team-a");
  }, 60_000);
  afterAll(async () => {
    await m?.stop();
    await t?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("validation at save", () => {
    it("reports a syntax error with its line and column", async () => {
      const err = await m.service
        .create(ADMIN, {
          name: "broken",
          type: "PLAN",
          body: "package spacelift\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n",
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyBodyInvalidError);
      const problems = (err as PolicyBodyInvalidError).problems;
      expect(problems[0]?.row).toBe(7);
      expect(problems[0]?.col).toBe(1);
      expect((err as Error).message).toMatch(/line 7, column 1/);
    });

    it.each([
      [
        "http.send",
        'x := http.send({"method": "get", "url": "http://example.com"})',
      ],
      ["opa.runtime", "x := opa.runtime()"],
      ["net.lookup_ip_addr", 'x := net.lookup_ip_addr("localhost")'],
      ["rego.parse_module", 'x := rego.parse_module("a.rego", "package a")'],
      ["time.now_ns", "x := time.now_ns()"],
      ["trace", 'allow if trace("hello")'],
    ])("refuses the disabled built-in %s, naming it", async (name, rule) => {
      const err = await m.service
        .create(ADMIN, {
          name: `uses ${name}`,
          type: "PLAN",
          body: `package spacelift\n\nimport rego.v1\n\n${rule}\n`,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyBodyInvalidError);
      expect((err as Error).message).toContain(
        `the built-in ${name} is disabled`,
      );
      expect((err as PolicyBodyInvalidError).problems[0]?.row).toBe(5);
    });

    it("accepts Rego v1 and v0 bodies and remembers the dialect", async () => {
      const v1 = await m.service.create(ADMIN, {
        name: "Plan V1",
        type: "PLAN",
        body: PLAN_V1,
        labels: ["autoattach:prod"],
      });
      expect(v1).toMatchObject({ id: "plan-v1", engineType: "REGO_V1" });
      const v0 = await m.service.create(ADMIN, {
        name: "Plan V0",
        type: "TERRAFORM_PLAN",
        body: PLAN_V0,
      });
      expect(v0).toMatchObject({
        id: "plan-v0",
        type: "PLAN",
        engineType: "REGO_V0",
      });
    });

    it("requires package spacelift", async () => {
      await expect(
        m.service.create(ADMIN, {
          name: "other",
          type: "PLAN",
          body: "package other\n\nallow := true\n",
        }),
      ).rejects.toThrow(/package must be "spacelift"/);
    });

    it("refuses a space that does not exist as the client's mistake, naming input.space", async () => {
      const created = m.service.create(ADMIN, {
        name: "nowhere",
        type: "PLAN",
        space: "no-such-space",
        body: 'package spacelift\n\ndeny["x"] { true }\n',
      });
      await expect(created).rejects.toBeInstanceOf(ValidationError);
      await expect(created).rejects.toThrow(
        "input.space: no space no-such-space exists",
      );
    });

    it("lets only admins manage login policies", async () => {
      const key = await apiKeySession(t.db, {
        spaceId: "root",
        level: "ADMIN",
      });
      await expect(
        m.service.create(key, {
          name: "login",
          type: "LOGIN",
          body: "package spacelift\n\nallow := true\n",
        }),
      ).rejects.toBeInstanceOf(ForbiddenError);
    });
  });

  describe("attachment and evaluation", () => {
    it("attaches explicitly and by autoattach label; evaluates each and combines", async () => {
      await buildStack(t.db, { id: "prod-stack", labels: ["prod"] });
      await buildStack(t.db, { id: "dev-stack", labels: ["dev"] });
      await m.service.attach(ADMIN, "plan-v0", "dev-stack");
      const prodPolicies = await m.evaluation.policiesForStack(
        "prod-stack",
        "PLAN",
      );
      expect(prodPolicies.map((p) => p.id)).toEqual(["plan-v1"]);
      const devPolicies = await m.evaluation.policiesForStack(
        "dev-stack",
        "PLAN",
      );
      expect(devPolicies.map((p) => p.id)).toEqual(["plan-v0"]);

      await m.service.attach(ADMIN, "plan-v0", "prod-stack");
      const attached = await m.service.attachedToStack(ADMIN, {
        id: "prod-stack",
        name: "prod-stack",
        labels: ["prod"],
        spaceId: "root",
      });
      expect(attached.map((a) => [a.policyId, a.isAutoattached])).toEqual([
        ["plan-v0", false],
        ["plan-v1", true],
      ]);

      const result = await m.evaluation.evaluate(
        "PLAN",
        { stackId: "prod-stack" },
        {
          terraform: {
            resource_changes: [
              {
                address: "a.b",
                type: "forbidden_thing",
                change: { actions: ["delete"] },
              },
              { address: "c.d", type: "x", change: { actions: ["create"] } },
              { address: "e.f", type: "x", change: { actions: ["create"] } },
            ],
          },
        },
      );
      expect(result.errors).toEqual([]);
      expect(result.receipts.map((r) => [r.policyId, r.outcome])).toEqual([
        ["plan-v0", "deny"],
        ["plan-v1", "deny"],
      ]);
      expect(result.receipts[1]?.result).toMatchObject({
        deny: ["a.b is deleted"],
        warn: ["big change"],
      });
    });

    it("fails an evaluation that outlives its type's timeout", async () => {
      await m.service.create(ADMIN, {
        name: "Slow trigger",
        type: "TRIGGER",
        labels: ["autoattach:*"],
        body: `package spacelift

import rego.v1

trigger contains "never" if {
  some i in numbers.range(1, 200000000)
  i == -1
}
`,
      });
      const result = await m.evaluation.evaluate(
        "TRIGGER",
        { stackId: "dev-stack" },
        {},
      );
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]?.outcome).toBe("error");
      expect(result.errors[0]?.error).toMatch(/timed out after 1000 ms/);
      await m.service.delete(ADMIN, "slow-trigger");
    });

    it("reports a runtime error as a failed evaluation", async () => {
      await m.service.create(ADMIN, {
        name: "Conflicting",
        type: "TRIGGER",
        labels: ["autoattach:dev"],
        body: "package spacelift\n\nimport rego.v1\n\nx := input.a\nx := input.b\n",
      });
      const result = await m.evaluation.evaluate(
        "TRIGGER",
        { stackId: "dev-stack" },
        { a: 1, b: 2 },
      );
      expect(result.errors[0]?.error).toMatch(/conflicting values/);
      await m.service.delete(ADMIN, "conflicting");
    });

    it("fails closed on a stored body that calls a built-in disabled since it was saved", async () => {
      await m.service.create(ADMIN, {
        name: "Legacy lookup",
        type: "TRIGGER",
        labels: ["autoattach:dev"],
        body: 'package spacelift\n\nimport rego.v1\n\ntrigger contains "x" if input.a\n',
      });
      // As if saved by a build that still allowed DNS lookups.
      await t.db
        .updateTable("policies")
        .set({
          body: 'package spacelift\n\nimport rego.v1\n\ntrigger contains ip if {\n  some ip in net.lookup_ip_addr("localhost")\n}\n',
        })
        .where("id", "=", "legacy-lookup")
        .execute();
      const result = await m.evaluation.evaluate(
        "TRIGGER",
        { stackId: "dev-stack" },
        { a: true },
      );
      const receipt = result.receipts.find(
        (r) => r.policyId === "legacy-lookup",
      );
      expect(receipt?.outcome).toBe("error");
      expect(receipt?.error).toMatch(
        /the built-in net.lookup_ip_addr is disabled.*update the policy/,
      );
      expect(receipt?.result).toEqual({});
      await m.service.delete(ADMIN, "legacy-lookup");
    });

    it("stores a sample when `sample` is true and serves it through the samples API", async () => {
      const records = await m.service.samples(ADMIN, "plan-v1", null);
      expect(records.records.length).toBeGreaterThanOrEqual(1);
      const rec = records.records[0];
      expect(rec?.outcome).toBe("deny");
      const sample = await m.service.sample(ADMIN, "plan-v1", rec?.key ?? "");
      expect(sample?.body).toBe(PLAN_V1);
      expect(JSON.parse(sample?.input ?? "{}")).toMatchObject({
        terraform: { resource_changes: expect.any(Array) },
      });
      const filtered = await m.service.samples(ADMIN, "plan-v1", {
        first: 10,
        predicates: [
          { field: "outcome", constraint: { stringMatches: ["allow"] } },
        ],
      });
      expect(filtered.records).toEqual([]);
    });

    it("keeps the newest 100 samples of a policy", async () => {
      await m.service.create(ADMIN, {
        name: "Sampler",
        type: "NOTIFICATION",
        body: "package spacelift\n\nsample := true\n",
      });
      for (let i = 0; i < 103; i++)
        await m.evaluation.evaluate(
          "NOTIFICATION",
          { stackId: "dev-stack" },
          { i },
        );
      const page = await m.service.samples(ADMIN, "sampler", { first: 100 });
      expect(page.records).toHaveLength(100);
      expect(page.hasNextPage).toBe(false);
      await m.service.delete(ADMIN, "sampler");
    }, 60_000);

    it("passes flags between policy types on the same run", async () => {
      await t.db
        .insertInto("runs")
        .values({
          id: "run_flags",
          stack_id: "dev-stack",
          type: "TRACKED",
          blocking: true,
          state: "PLANNING",
          worker_pool_id: null,
        })
        .execute();
      await m.service.create(ADMIN, {
        name: "Flagger",
        type: "PLAN",
        labels: ["autoattach:dev"],
        body: 'package spacelift\n\nimport rego.v1\n\nflag contains "reviewed-by-plan"\n',
      });
      await m.service.create(ADMIN, {
        name: "Flag reader",
        type: "APPROVAL",
        labels: ["autoattach:dev"],
        body: 'package spacelift\n\nimport rego.v1\n\napprove if "reviewed-by-plan" in input.run.flags\n',
      });
      await m.evaluation.evaluate(
        "PLAN",
        { stackId: "dev-stack", runId: "run_flags" },
        {},
      );
      expect(await m.evaluation.flagsOf("run_flags")).toEqual([
        "reviewed-by-plan",
      ]);
      const run = await t.db
        .selectFrom("runs")
        .selectAll()
        .where("id", "=", "run_flags")
        .executeTakeFirstOrThrow();
      const verdict = await m.decisions.decideApproval(
        {
          id: run.id,
          stackId: run.stack_id,
          type: run.type,
          state: run.state,
          commitSha: null,
          commitMessage: "",
          commitAuthor: "",
          commitAt: null,
          branch: "main",
          command: null,
          triggeredBy: null,
          driftDetection: false,
          runtimeConfig: null,
          userMetadata: [],
          createdAt: run.created_at,
          updatedAt: run.updated_at,
        },
        [],
        new Date(0),
      );
      expect(verdict.decision).toBe("approve");
    });

    it("provides Spacelift's sanitized() helper in both dialects", async () => {
      for (const body of [
        "package spacelift\n\ndeny[sanitized(input.secret)] { true }\n",
        "package spacelift\n\nimport rego.v1\n\ndeny contains sanitized(input.secret)\n",
      ]) {
        const out = await m.service.simulate(ADMIN, {
          body,
          input: JSON.stringify({ secret: "hunter2" }),
          type: "PLAN",
        });
        // The last 8 hex characters of sha256("hunter2").
        expect(JSON.parse(out)).toEqual({ deny: ["26a3f6c7"] });
      }
    });

    it("simulates a body against an input without saving it", async () => {
      const out = await m.service.simulate(ADMIN, {
        body: PLAN_V0,
        input: JSON.stringify({
          terraform: { resource_changes: [{ type: "forbidden_thing" }] },
        }),
        type: "PLAN",
      });
      expect(JSON.parse(out)).toEqual({ deny: ["forbidden resource"] });
      await expect(
        m.service.simulate(ADMIN, { body: PLAN_V0, input: "{", type: "PLAN" }),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await m.service.runtimeVersion()).toBe("1.22.2");
    });

    it("refuses to simulate a body that looks up names in DNS", async () => {
      const body =
        'package spacelift\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := concat(",", net.lookup_ip_addr("localhost"))\n}\n';
      const err = await m.service
        .simulate(ADMIN, { body, input: "{}", type: "PLAN" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyBodyInvalidError);
      expect((err as Error).message).toContain(
        "the built-in net.lookup_ip_addr is disabled",
      );
    });
  });

  it("stores notification routing decisions when a run changes state", async () => {
    await m.service.create(ADMIN, {
      name: "Failures to inbox",
      type: "NOTIFICATION",
      body: `package spacelift

import rego.v1

inbox contains {"title": sprintf("%s failed", [input.run_updated.stack.id]), "body": input.run_updated.note, "severity": "ERROR"} if {
  input.run_updated.state == "FAILED"
}

webhook contains {"endpoint_id": "ops", "payload": {"run": input.run_updated.run.id}} if {
  input.run_updated.state == "FAILED"
}
`,
    });
    await t.db
      .insertInto("runs")
      .values({
        id: "run_notify",
        stack_id: "dev-stack",
        type: "TRACKED",
        blocking: true,
        state: "FAILED",
        state_version: 2,
        worker_pool_id: null,
      })
      .execute();
    await t.db
      .insertInto("run_transitions")
      .values([
        { run_id: "run_notify", state_version: 1, state: "QUEUED" },
        {
          run_id: "run_notify",
          state_version: 2,
          state: "FAILED",
          note: "Failed: boom",
        },
      ])
      .execute();
    // The run_transitions trigger queued one evaluation per state version.
    const queued = await t.db
      .selectFrom("queue_messages")
      .select(["payload"])
      .where("name", "=", "policies.runTransitioned")
      .orderBy("id")
      .execute();
    expect(queued.map((q) => q.payload)).toEqual([
      { runId: "run_notify", stateVersion: 1, state: "QUEUED" },
      { runId: "run_notify", stateVersion: 2, state: "FAILED" },
    ]);
    const job = m.jobs()["policies.runTransitioned"];
    const ctx = { jobId: "1", attempt: 1, log };
    for (const q of queued) {
      await job?.handler(q.payload, ctx);
      await job?.handler(q.payload, ctx); // a redelivery stores nothing twice
    }
    const rows = await t.db
      .selectFrom("policy_notifications")
      .select(["kind", "payload", "state_version"])
      .where("run_id", "=", "run_notify")
      .orderBy("kind")
      .execute();
    expect(rows).toEqual([
      {
        kind: "inbox",
        state_version: 2,
        payload: {
          title: "dev-stack failed",
          body: "Failed: boom",
          severity: "ERROR",
        },
      },
      {
        kind: "webhook",
        state_version: 2,
        payload: { endpoint_id: "ops", payload: { run: "run_notify" } },
      },
    ]);
    await m.service.delete(ADMIN, "failures-to-inbox");
  });

  describe("login", () => {
    it("keeps today's behaviour without login policies, then denies by default", async () => {
      const none = await m.decisions.decideLogin({
        login: "k",
        name: "k",
        machine: true,
        admin: false,
        remoteIp: "127.0.0.1",
      });
      expect(none).toMatchObject({ noPolicies: true, allow: true });
      await m.service.create(ADMIN, {
        name: "Login rules",
        type: "LOGIN",
        body: `package spacelift

import rego.v1

allow if input.session.login == "alice"
admin if input.session.login == "root-bob"
deny if input.request.remote_ip == "10.9.9.9"
roles["team-a"] contains "space-writer" if input.session.login == "carol"
`,
      });
      const login = (who: string, ip = "127.0.0.1") =>
        m.decisions.decideLogin({
          login: who,
          name: who,
          machine: true,
          admin: false,
          remoteIp: ip,
        });
      expect(await login("alice")).toMatchObject({
        noPolicies: false,
        allow: true,
        admin: false,
      });
      expect(await login("root-bob")).toMatchObject({
        allow: true,
        admin: true,
      });
      expect(await login("carol")).toMatchObject({
        allow: true,
        admin: false,
        roles: { "team-a": ["space-writer"] },
      });
      const mallory = await login("mallory");
      expect(mallory.allow).toBe(false);
      expect(mallory.reasons.join()).toMatch(/default is deny/);
      expect((await login("alice", "10.9.9.9")).allow).toBe(false);
      await m.service.delete(ADMIN, "login-rules");
    });
  });

  it("pushes every policy again after the embedded OPA restarts", async () => {
    const endpoint = m.endpoint as unknown as { pid(): number | null };
    const pid = endpoint.pid();
    expect(pid).not.toBeNull();
    process.kill(pid ?? 0, "SIGKILL");
    const deadline = Date.now() + 20_000;
    let result: Awaited<ReturnType<typeof m.evaluation.evaluate>> | null = null;
    while (Date.now() < deadline) {
      result = await m.evaluation.evaluate(
        "PLAN",
        { stackId: "dev-stack" },
        { terraform: { resource_changes: [{ type: "forbidden_thing" }] } },
      );
      if (result.errors.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(result?.errors).toEqual([]);
    expect(endpoint.pid()).not.toBe(pid);
    expect(
      result?.receipts.find((r) => r.policyId === "plan-v0")?.outcome,
    ).toBe("deny");
  }, 30_000);
});
