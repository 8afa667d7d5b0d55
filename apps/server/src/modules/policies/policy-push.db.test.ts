import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRunKit, type RunKit } from "../../../test/run-kit.ts";
import { buildStack } from "../../../test/factories.ts";
import { ADMIN } from "../../../test/stacks-fixtures.ts";
import { createLogger } from "../../platform/log/logger.ts";
import { createFsBlobStore } from "../../platform/storage/fs/fs-blob-store.ts";
import {
  createPoliciesModule,
  createPushFlagRecorder,
  createPushPolicyDecider,
  findOpaBinary,
  type PoliciesModule,
} from "./index.ts";
import { SETUP, skipWithout } from "../../../test/tools.ts";

// GIT_PUSH policies on a real OPA: every side rule comes back in the decision, from v1
// and v0 bodies, combined across policies; a failing policy acts on nothing; flags land
// where later policy types read them.

const OPA = findOpaBinary(null);
const haveOpa = !skipWithout(
  "OPA",
  OPA !== "opa" && existsSync(OPA) ? null : `no opa binary (looked for ${OPA})`,
  SETUP.toolchain,
);

const V1 = `package spacelift

import rego.v1

track if input.push.branch == input.stack.branch

prioritize if input.push.author == "grace"

cancel contains run.id if {
  some run in input.in_progress
  run.state == "QUEUED"
  run.type == "PROPOSED"
}

lock := input.push.author

flag contains "v1-was-here"
`;

const V0 = `package spacelift

notrigger { contains(input.push.message, "[skip ci]") }

fail { contains(input.push.message, "[frozen]") }

message = "frozen" { contains(input.push.message, "[frozen]") }

unlock["grace"] { true }

reset_flag["v1-was-here"] { true }
flag["v0-was-here"] { true }
`;

const BROKEN = `package spacelift

import rego.v1

track if input.push.branch == input.stack.branch

# A runtime error: a function given conflicting values for the same input.
lock := x if x := ["a", "b"][_]
`;

const input = (stackId: string, message: string) => ({
  push: {
    affected_files: ["main.tf"],
    author: "grace",
    branch: "main",
    created_at: 0,
    hash: "a".repeat(40),
    message,
    tag: "",
  },
  pull_request: null,
  stack: { id: stackId, branch: "main" },
  in_progress: [
    { id: "run_q", type: "PROPOSED", state: "QUEUED" },
    { id: "run_t", type: "TRACKED", state: "QUEUED" },
    { id: "run_p", type: "PROPOSED", state: "PLANNING" },
  ],
  vcs_integration: null,
});

describe.skipIf(!haveOpa)("push policies on a real OPA", () => {
  let kit: RunKit;
  let dir: string;
  let m: PoliciesModule;
  const fallback = () => ({ action: "track" as const, reason: "default" });
  let decide: ReturnType<typeof createPushPolicyDecider>;

  beforeAll(async () => {
    kit = await createRunKit();
    const t = kit.t;
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-push-policy-"));
    const storage = createFsBlobStore(dir);
    await storage.ensureBuckets(["policy-inputs"]);
    m = createPoliciesModule({
      db: t.db,
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
      publicUrl: "http://localhost:1983",
      clock: () => new Date(),
      log: createLogger({ level: "error", format: "json" }),
    });
    decide = createPushPolicyDecider(m.evaluation, fallback);
    for (const [name, body] of [
      ["push-v1", V1],
      ["push-v0", V0],
      ["push-broken", BROKEN],
    ] as const)
      await m.service.create(ADMIN, { name, type: "GIT_PUSH", body });
  }, 60_000);

  afterAll(async () => {
    await m?.stop();
    await kit?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("returns the default decision, without rules, when no push policy applies", async () => {
    const stack = await buildStack(kit.t.db);
    expect(await decide(input(stack.id, "x"))).toEqual({
      action: "track",
      reason: "default",
    });
  });

  it("returns every side rule of a v1 and a v0 policy, combined", async () => {
    const stack = await buildStack(kit.t.db);
    await m.service.attach(ADMIN, "push-v1", stack.id);
    await m.service.attach(ADMIN, "push-v0", stack.id);

    const plain = await decide(input(stack.id, "change"));
    expect(plain.action).toBe("track");
    expect(plain.rules).toEqual({
      notrigger: false,
      cancel: ["run_q"],
      prioritize: true,
      lock: "grace",
      unlock: "grace",
      fail: false,
      message: "",
      // Policy by policy in id order: push-v0's reset_flag comes before push-v1 flags.
      flags: ["v0-was-here", "v1-was-here"],
      moduleVersion: "",
      fired: ["track", "cancel", "prioritize", "lock", "unlock", "flag"],
    });

    const frozen = await decide(input(stack.id, "hotfix [frozen] [skip ci]"));
    expect(frozen.rules).toMatchObject({
      notrigger: true,
      fail: true,
      message: "frozen",
    });
    expect(frozen.rules?.fired).toEqual([
      "track",
      "notrigger",
      "cancel",
      "prioritize",
      "lock",
      "unlock",
      "fail",
      "flag",
    ]);
  });

  it("ignores the event and acts on no rule when one policy fails to evaluate", async () => {
    const stack = await buildStack(kit.t.db);
    await m.service.attach(ADMIN, "push-v1", stack.id);
    await m.service.attach(ADMIN, "push-broken", stack.id);
    const d = await decide(input(stack.id, "change"));
    expect(d.action).toBe("ignore");
    expect(d.reason).toContain("push-broken failed to evaluate");
    expect(d.rules).toMatchObject({
      cancel: [],
      lock: "",
      prioritize: false,
      fired: [],
    });
  });

  it("stores a push decision's flags on the created run, read back as run.flags", async () => {
    const stack = await buildStack(kit.t.db);
    const trigger = () =>
      kit.runs.service.trigger(ADMIN, {
        stackId: stack.id,
        runType: "PROPOSED",
      });
    const run = await trigger();
    const record = createPushFlagRecorder(() => new Date());
    await kit.t.db
      .transaction()
      .execute((tx) => record(tx, run.id, ["from-push", "reviewed"]));
    expect(await m.evaluation.flagsOf(run.id)).toEqual([
      "from-push",
      "reviewed",
    ]);
    // No flags: nothing stored.
    const bare = await trigger();
    await record(kit.t.db, bare.id, []);
    const rows = await kit.t.db
      .selectFrom("run_policy_flags")
      .select("run_id")
      .where("run_id", "=", bare.id)
      .execute();
    expect(rows).toEqual([]);
  });
});
