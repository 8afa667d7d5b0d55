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
import { policyTriggerPort } from "../../app.ts";
import { ForbiddenError, ValidationError } from "../../platform/errors.ts";
import { createLogger } from "../../platform/log/logger.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import type { Session } from "../auth/index.ts";
import { createStacksModule } from "../stacks/index.ts";
import {
  createPoliciesModule,
  findOpaBinary,
  PolicyBodyInvalidError,
  type PoliciesModule,
} from "./index.ts";
import { MAX_SIMULATION_INPUT_BYTES } from "./policy-service.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// Policies and space boundaries, with a real OPA and Postgres:
//   root
//   ├── team-a (inherits) ── team-a-kid (inherits)
//   └── team-b
const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

let t: TestDatabase;
let dir: string;
let m: PoliciesModule;
let stacksModule: ReturnType<typeof createStacksModule>;

const ECHO_ALL = `package spacelift

import rego.v1

trigger contains s.id if {
  some s in input.stacks
  s.id != input.stack.id
}

trigger contains "ps-b1"
trigger contains "ps-root"
`;

describe.skipIf(!haveOpa)("policies and spaces", () => {
  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-policy-spaces-"));
    const storage = createFsBlobStore(dir);
    await storage.ensureBuckets(["policy-inputs"]);
    stacksModule = createStacksModule({
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
      publicUrl: "http://localhost:1983",
      clock: () => new Date(),
      log: createLogger({ level: "error", format: "json" }),
    });
    await insertSpace(t.db, "team-a", "root", { inherit: true });
    await insertSpace(t.db, "team-a-kid", "team-a", { inherit: true });
    await insertSpace(t.db, "team-b");
  }, 60_000);
  afterAll(async () => {
    await m?.stop();
    await t?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe("trigger policies", () => {
    it("see and trigger only the stacks of their own space subtree", async () => {
      await buildStack(t.db, {
        id: "ps-src",
        space_id: "team-a",
        labels: ["ps-src"],
      });
      await buildStack(t.db, { id: "ps-a1", space_id: "team-a" });
      await buildStack(t.db, { id: "ps-kid", space_id: "team-a-kid" });
      await buildStack(t.db, { id: "ps-b1", space_id: "team-b" });
      await buildStack(t.db, { id: "ps-root", space_id: "root" });
      const policy = await m.service.create(ADMIN, {
        name: "team-a chain",
        type: "TRIGGER",
        space: "team-a",
        labels: ["autoattach:ps-src"],
        body: ECHO_ALL,
      });
      await t.db
        .insertInto("runs")
        .values({
          id: "run_ps",
          stack_id: "ps-src",
          type: "TRACKED",
          blocking: true,
          state: "FINISHED",
          triggered_by: "admin",
        })
        .execute();
      const run = await (
        await import("./policy-repo.ts")
      ).runFacts(t.db, "run_ps");
      if (!run) throw new Error("no run facts");
      const verdict = await m.decisions.decideTrigger({
        ...run,
        state: "FINISHED",
      });
      expect(verdict.targets).toEqual([
        { stackId: "ps-a1", policyId: policy.id, policySpaceId: "team-a" },
        { stackId: "ps-kid", policyId: policy.id, policySpaceId: "team-a" },
      ]);
      expect(verdict.errors).toEqual([
        `policy team-a chain (${policy.id}) cannot trigger stack ps-b1: it is not a stack of space team-a or a space below it`,
        `policy team-a chain (${policy.id}) cannot trigger stack ps-root: it is not a stack of space team-a or a space below it`,
      ]);
    });

    it("start runs with the policy's space rights, not an admin's", async () => {
      let seen: Session | null = null;
      const port = policyTriggerPort({
        triggerFromPolicy: async (session) => {
          seen = session;
          return { id: "run_x" } as never;
        },
      });
      await port({
        policy: { id: "pol_1", spaceId: "team-a" },
        stackId: "ps-a1",
        note: "n",
        inTx: async () => {},
      });
      const session = seen as unknown as Session;
      expect(session.admin).toBe(false);
      const level = (space: string) =>
        stacksModule.access.accessLevel(session, space);
      expect(await level("team-a")).toBe("WRITE");
      expect(await level("team-a-kid")).toBe("WRITE");
      expect(await level("team-b")).toBe("NONE");
      expect(await level("root")).toBe("NONE");
    });
  });

  describe("notification policies", () => {
    it("route only runs of their space and the spaces inheriting from it", async () => {
      const inbox = (name: string, space: string) =>
        m.service.create(ADMIN, {
          name,
          type: "NOTIFICATION",
          space,
          body: `package spacelift\n\nimport rego.v1\n\ninbox contains {"title": input.run_updated.stack.id, "body": "", "severity": "INFO"}\n`,
        });
      const teamA = await inbox("team-a inbox", "team-a");
      const teamB = await inbox("team-b inbox", "team-b");
      await buildStack(t.db, { id: "ps-notify", space_id: "team-a-kid" });
      await t.db
        .insertInto("runs")
        .values({
          id: "run_notify",
          stack_id: "ps-notify",
          type: "PROPOSED",
          blocking: false,
          state: "FAILED",
          triggered_by: "admin",
        })
        .execute();
      const repo = await import("./policy-repo.ts");
      const run = await repo.runFacts(t.db, "run_notify");
      if (!run) throw new Error("no run facts");
      await m.decisions.recordNotifications({
        run,
        stateVersion: 1,
        note: null,
        username: null,
      });
      const rows = await t.db
        .selectFrom("policy_notifications")
        .select("policy_id")
        .where("run_id", "=", "run_notify")
        .execute();
      const routedBy = rows.map((r) => r.policy_id);
      expect(routedBy).toContain(teamA.id);
      expect(routedBy).not.toContain(teamB.id);
    });
  });

  describe("attachments", () => {
    it("attach and auto-attach only from spaces the stack inherits from", async () => {
      await buildStack(t.db, {
        id: "ps-b-stack",
        space_id: "team-b",
        labels: ["ps-any"],
      });
      await buildStack(t.db, {
        id: "ps-kid-stack",
        space_id: "team-a-kid",
        labels: ["ps-any"],
      });
      const rootPlan = await m.service.create(ADMIN, {
        name: "root plan",
        type: "PLAN",
        space: "root",
        labels: ["autoattach:ps-any"],
        body: 'package spacelift\n\nimport rego.v1\n\ndeny contains "no" if false\n',
      });
      // team-b does not inherit: the root policy neither attaches nor auto-attaches.
      await expect(
        m.service.attach(ADMIN, rootPlan.id, "ps-b-stack"),
      ).rejects.toThrow(/nor an ancestor it inherits from/);
      expect(
        (await m.evaluation.policiesForStack("ps-b-stack", "PLAN")).map(
          (p) => p.id,
        ),
      ).not.toContain(rootPlan.id);
      // team-a-kid inherits from team-a, which inherits from root.
      expect(
        (await m.evaluation.policiesForStack("ps-kid-stack", "PLAN")).map(
          (p) => p.id,
        ),
      ).toContain(rootPlan.id);
      await m.service.attach(ADMIN, rootPlan.id, "ps-kid-stack");
    });
  });

  describe("simulation", () => {
    const body = `package spacelift

import rego.v1

deny contains "x" if input.x
`;

    it("needs the rights to create a policy", async () => {
      const reader = await apiKeySession(t.db, {
        spaceId: "team-a",
        level: "READ",
      });
      const writer = await apiKeySession(t.db, {
        spaceId: "team-a",
        level: "WRITE",
      });
      const spaceAdmin = await apiKeySession(t.db, {
        spaceId: "team-a",
        level: "ADMIN",
      });
      const args = { body, input: '{"x": true}', type: "PLAN" };
      await expect(m.service.simulate(reader, args)).rejects.toThrow(
        ForbiddenError,
      );
      await expect(m.service.simulate(writer, args)).rejects.toThrow(
        ForbiddenError,
      );
      expect(JSON.parse(await m.service.simulate(spaceAdmin, args))).toEqual({
        deny: ["x"],
      });
      await expect(
        m.service.simulate(spaceAdmin, { ...args, type: "LOGIN" }),
      ).rejects.toThrow(/only an admin can simulate them/);
    });

    it("refuses an input over the limit, naming it", async () => {
      const big = JSON.stringify({
        pad: "x".repeat(MAX_SIMULATION_INPUT_BYTES),
      });
      const err = await m.service
        .simulate(ADMIN, { body, input: big, type: "PLAN" })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toMatch(/^policySimulate input: /);
    });

    it("cannot read other policies through data", async () => {
      await m.service.create(ADMIN, {
        name: "secret login",
        type: "LOGIN",
        body: 'package spacelift\n\nimport rego.v1\n\nallow if input.session.login == "s3cret-login"\n',
      });
      // Whole-tree reads (`data`, `data["spacelift"]`) are already refused by OPA as
      // recursive; these pass `opa check` and would read other packages once uploaded.
      const escapes = [
        'x := data["spacelift"]["p_secret_login"]',
        "x := data.spacelift_other",
        "x := data.other.thing",
      ];
      for (const rule of escapes) {
        const err = await m.service
          .simulate(ADMIN, {
            body: `package spacelift\n\nimport rego.v1\n\n${rule}\n`,
            input: "{}",
            type: "PLAN",
          })
          .catch((e: unknown) => e);
        expect(err, rule).toBeInstanceOf(PolicyBodyInvalidError);
        expect((err as Error).message, rule).toMatch(
          /line 5, column \d+: a policy may read data only through its own package/,
        );
      }
      // Saving is refused the same way; reading its own rules by full path still works.
      await expect(
        m.service.create(ADMIN, {
          name: "peek",
          type: "PLAN",
          body: 'package spacelift\n\nimport rego.v1\n\nx := data["spacelift"]\n',
        }),
      ).rejects.toThrow(PolicyBodyInvalidError);
      const own = await m.service.simulate(ADMIN, {
        body: `package spacelift

import rego.v1

deny contains "d" if input.x
warn contains m if some m in data.spacelift.deny
`,
        input: '{"x": true}',
        type: "PLAN",
      });
      expect(JSON.parse(own)).toEqual({ deny: ["d"], warn: ["d"] });
    });
  });
});
