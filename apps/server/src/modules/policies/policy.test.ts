import { describe, expect, it } from "vitest";
import {
  applyFlags,
  canonicalType,
  packageOf,
  policyAutoAttaches,
  rewriteSource,
} from "./policy.ts";
import { outcomeOf } from "./policy-evaluation.ts";
import { combinePush } from "./policy-push.ts";
import { approvalInput, changesOf, timingOf } from "./policy-inputs.ts";

describe("policy source rewrite", () => {
  it("gives each policy its own package on the same line, keeping every row", () => {
    const body = '# header\npackage spacelift\n\ndeny contains "x" if true\n';
    const out = rewriteSource(body, packageOf("my-policy"), "REGO_V1");
    expect(out.split("\n")).toEqual([
      "# header",
      "package spacelift.p_my_policy import rego.v1",
      "",
      'deny contains "x" if true',
      "",
    ]);
  });

  it("does not import rego.v1 twice, nor into a v0 body", () => {
    const v1 = "package spacelift\n\nimport rego.v1\n\nallow if true\n";
    expect(rewriteSource(v1, "spacelift.p_a", "REGO_V1")).toBe(
      "package spacelift.p_a\n\nimport rego.v1\n\nallow if true\n",
    );
    const v0 = "package spacelift\n\nallow { true }\n";
    expect(rewriteSource(v0, "spacelift.p_a", "REGO_V0")).toBe(
      "package spacelift.p_a\n\nallow { true }\n",
    );
  });

  it("points the policy's references to data.spacelift at its own package", () => {
    const body =
      'package spacelift\n\nwarn contains "x" if count(data.spacelift.deny) > 0\ny := data.spacelift["deny"]\nz := data.spacelift_other.a\n';
    expect(rewriteSource(body, "spacelift.p_a", "REGO_V0").split("\n")).toEqual(
      [
        "package spacelift.p_a",
        "",
        'warn contains "x" if count(data.spacelift.p_a.deny) > 0',
        'y := data.spacelift.p_a["deny"]',
        "z := data.spacelift_other.a",
        "",
      ],
    );
  });

  it("maps deprecated type names", () => {
    expect(canonicalType("TERRAFORM_PLAN")).toBe("PLAN");
    expect(canonicalType("STACK_ACCESS")).toBe("ACCESS");
    expect(canonicalType("TASK_RUN")).toBe("TASK");
    expect(canonicalType("NOPE")).toBeNull();
  });
});

describe("auto-attachment", () => {
  const stack = { labels: ["prod"], spaceLineage: ["team", "root"] };
  it("attaches by label or *, from the stack's space or an ancestor", () => {
    const p = (labels: string[], spaceId = "root", type = "PLAN" as const) => ({
      labels,
      spaceId,
      type,
    });
    expect(policyAutoAttaches(p(["autoattach:prod"]), stack)).toBe(true);
    expect(policyAutoAttaches(p(["autoattach:*"], "team"), stack)).toBe(true);
    expect(policyAutoAttaches(p(["autoattach:dev"]), stack)).toBe(false);
    expect(policyAutoAttaches(p(["prod"]), stack)).toBe(false);
    expect(policyAutoAttaches(p(["autoattach:*"], "other"), stack)).toBe(false);
  });
  it("never auto-attaches login policies", () => {
    expect(
      policyAutoAttaches(
        { labels: ["autoattach:*"], spaceId: "root", type: "LOGIN" },
        stack,
      ),
    ).toBe(false);
  });
});

describe("results", () => {
  it("resets then adds flags, sorted and unique", () => {
    expect(
      applyFlags(["a", "b"], { reset_flag: ["a"], flag: ["c", "b"] }),
    ).toEqual(["b", "c"]);
  });

  it("summarises each type's outcome, deny first", () => {
    expect(outcomeOf("PLAN", { deny: ["x"], warn: ["y"] })).toBe("deny");
    expect(outcomeOf("PLAN", { warn: ["y"] })).toBe("warn");
    expect(outcomeOf("PLAN", {})).toBe("allow");
    expect(outcomeOf("LOGIN", { allow: true, deny: true })).toBe("deny");
    expect(outcomeOf("LOGIN", { admin: true })).toBe("admin");
    expect(outcomeOf("APPROVAL", { approve: true, reject: true })).toBe(
      "reject",
    );
    expect(outcomeOf("APPROVAL", {})).toBe("undecided");
  });

  it("combines push policies: ignore wins, ignore_track proposes, default ignore", () => {
    const r = (
      result: Record<string, unknown>,
      error: string | null = null,
    ) => ({
      policyName: "p",
      result,
      error,
    });
    expect(combinePush([r({ track: true }), r({ ignore: true })]).action).toBe(
      "ignore",
    );
    expect(combinePush([r({ track: true, ignore_track: true })]).action).toBe(
      "propose",
    );
    expect(combinePush([r({ track: true })]).action).toBe("track");
    expect(combinePush([r({ propose: true })]).action).toBe("propose");
    expect(combinePush([r({})]).action).toBe("ignore");
    const failed = combinePush([r({ track: true }), r({}, "timed out")]);
    expect(failed.action).toBe("ignore");
    expect(failed.reason).toContain("failed to evaluate: timed out");
    expect(
      combinePush([r({ track: true, cancel: ["run_1"], lock: "me" })]),
    ).toMatchObject({
      action: "track",
      rules: {
        cancel: ["run_1"],
        lock: "me",
        fired: ["track", "cancel", "lock"],
      },
    });
  });

  it("combines the side rules of every push policy and reports which fired", () => {
    const r = (policyName: string, result: Record<string, unknown>) => ({
      policyName,
      result,
      error: null,
    });
    const d = combinePush([
      r("a", {
        track: true,
        cancel: ["run_1", "run_2"],
        prioritize: true,
        flag: ["seen", "old"],
        message: "first",
        unlock: ["zed", "amy"],
      }),
      r("b", {
        cancel: ["run_2", "run_3"],
        notrigger: true,
        fail: true,
        message: "second",
        lock: "pr-owner",
        reset_flag: ["old"],
        flag: "b-flag",
      }),
    ]);
    expect(d.action).toBe("track");
    expect(d.rules).toEqual({
      notrigger: true,
      cancel: ["run_1", "run_2", "run_3"],
      prioritize: true,
      lock: "pr-owner",
      // A set's first member in sorted order.
      unlock: "amy",
      fail: true,
      message: "first; second",
      // Policy by policy: b's reset_flag removes a's "old".
      flags: ["b-flag", "seen"],
      moduleVersion: "",
      fired: [
        "track",
        "notrigger",
        "cancel",
        "prioritize",
        "lock",
        "unlock",
        "fail",
        "flag",
      ],
    });
    // ignore still wins over track, and the side rules stay.
    const ignored = combinePush([
      r("a", { track: true }),
      r("b", { ignore: true, cancel: ["run_9"] }),
    ]);
    expect(ignored).toMatchObject({
      action: "ignore",
      rules: { cancel: ["run_9"], fired: ["track", "ignore", "cancel"] },
    });
    // false and empty values fire nothing.
    expect(
      combinePush([
        r("a", { propose: true, notrigger: false, lock: "", cancel: [] }),
      ]).rules.fired,
    ).toEqual(["propose"]);
  });

  it("acts on no side rule when a push policy fails to evaluate", () => {
    const d = combinePush([
      {
        policyName: "good",
        result: { track: true, cancel: ["run_1"], lock: "x", fail: true },
        error: null,
      },
      { policyName: "broken", result: {}, error: "timed out" },
    ]);
    expect(d.action).toBe("ignore");
    expect(d.reason).toContain("broken failed to evaluate: timed out");
    expect(d.rules).toMatchObject({
      cancel: [],
      lock: "",
      fail: false,
      notrigger: false,
      flags: [],
      fired: [],
    });
  });
});

describe("approval input", () => {
  it("counts only each author's newest review, split by the current state", () => {
    const at = (s: number) => new Date(1_000_000 + s * 1000);
    const input = approvalInput({
      run: {
        id: "run_1",
        stackId: "s",
        type: "TRACKED",
        state: "UNCONFIRMED",
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
        createdAt: at(0),
        updatedAt: at(0),
      },
      stack: {
        id: "s",
        name: "s",
        description: "",
        labels: [],
        spaceId: "root",
        administrative: false,
        autodeploy: false,
        autoretry: false,
        branch: "main",
        lockedBy: null,
        namespace: "",
        projectRoot: "",
        repository: "r",
        toolVersion: null,
        trackedCommit: null,
        workerPoolId: null,
      } as never,
      facts: null,
      flags: [],
      history: [
        { stateVersion: 1, createdAt: at(0) },
        { stateVersion: 2, createdAt: at(4) },
      ],
      reviews: [
        {
          author: "a",
          decision: "REJECT",
          note: null,
          state: "QUEUED",
          createdAt: at(1),
        },
        {
          author: "a",
          decision: "APPROVE",
          note: null,
          state: "UNCONFIRMED",
          createdAt: at(5),
        },
        {
          author: "b",
          decision: "APPROVE",
          note: null,
          state: "QUEUED",
          createdAt: at(2),
        },
      ],
      stateSince: at(4),
      now: at(6),
    });
    expect(input.reviews.current.approvals.map((r) => r.author)).toEqual(["a"]);
    expect(input.reviews.current.rejections).toEqual([]);
    expect(input.reviews.older.map((r) => r.author)).toEqual(["b"]);
    expect(input.reviews.current.approvals[0]).toMatchObject({
      state: "UNCONFIRMED",
      state_version: 2,
      author_roles: [],
      session: { login: "a", machine: false },
      request: { timestamp_ns: BigInt(at(5).getTime()) * 1_000_000n },
    });
    expect(input.reviews.older[0]?.state_version).toBe(1);
  });
});

describe("run_updated.timing and run.changes", () => {
  it("lists the time spent in each state left, in nanoseconds", () => {
    const at = (s: number) => new Date(1_000_000 + s * 1000);
    expect(
      timingOf([
        { state: "QUEUED", createdAt: at(0) },
        { state: "PLANNING", createdAt: at(2) },
        { state: "FINISHED", createdAt: at(7) },
      ]),
    ).toEqual([
      { state: "QUEUED", duration: 2_000_000_000n },
      { state: "PLANNING", duration: 5_000_000_000n },
    ]);
  });

  it("names replacements and moves as Spacelift does and drops no-ops", () => {
    const rc = (address: string, actions: string[], previous?: string) => ({
      address,
      previous_address: previous,
      type: "aws_instance",
      name: address.split(".")[1] ?? "",
      change: { actions, before: { v: 1 }, after: { v: 2 } },
    });
    const changes = changesOf([
      rc("aws_instance.a", ["delete", "create"]),
      rc("aws_instance.b", ["create", "delete"]),
      rc("aws_instance.c", ["no-op"]),
      rc("aws_instance.d", ["no-op"], "aws_instance.old"),
      rc("aws_instance.e", ["delete"]),
    ]);
    expect(changes.map((c) => [c.entity.address, c.action, c.moved])).toEqual([
      ["aws_instance.a", "destroy-Before-create-replaced", false],
      ["aws_instance.b", "create-Before-destroy-replaced", false],
      ["aws_instance.d", "moved", true],
      ["aws_instance.e", "deleted", false],
    ]);
    expect(changes[0]?.entity).toMatchObject({
      type: "aws_instance",
      entity_type: "resource",
      entity_vendor: "Terraform",
      data: { values: { v: 2 } },
    });
    expect(changes[3]?.entity.data).toEqual({ values: { v: 1 } });
  });
});
