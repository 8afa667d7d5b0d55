import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import type { RunAssignSpec } from "@stackyard/protocol";
import { openSpec } from "../run-runner.ts";
import { createProcessExecutor } from "./process-executor.ts";
import {
  buildSpec,
  createTestRepo,
  hasTofu,
  recordRun,
  tempDir,
} from "../../test/executor-support.ts";

// A targeted replan with real OpenTofu: the plan phase limited to `replanTargets`,
// checkout and init reported in PREPARING_REPLAN, and an archive whose apply changes
// only the targeted resource.

const TIMEOUT = 60_000;
const executor = createProcessExecutor({
  hostPath: process.env.PATH,
  sandbox: "off",
});
const cleanup: string[] = [];
function workDir(): string {
  const dir = tempDir("work");
  cleanup.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

const TWO_RESOURCES = `
resource "terraform_data" "a" {
  input = "alpha"
}
resource "terraform_data" "b" {
  input = "beta"
}
`;

describe("openSpec", () => {
  it("passes a replan's targets on to the executor, and nothing for a full plan", () => {
    const { privateKey } = generateKeyPairSync("x25519");
    const wire: RunAssignSpec = {
      ...buildSpec(),
      environment: [],
      mountedFiles: [],
      stateBackend: null,
    };
    expect(
      openSpec({ ...wire, replanTargets: ["terraform_data.a"] }, privateKey)
        .replanTargets,
    ).toEqual(["terraform_data.a"]);
    expect(openSpec(wire, privateKey)).not.toHaveProperty("replanTargets");
  });
});

describe.skipIf(!hasTofu())("targeted replan in the process executor", () => {
  let repo: ReturnType<typeof createTestRepo>;
  beforeAll(() => {
    repo = createTestRepo();
    repo.commit({ "main.tf": TWO_RESOURCES }, "two resources");
    cleanup.push(repo.dir);
  });
  const spec = (o: Parameters<typeof buildSpec>[0] = {}) =>
    buildSpec({
      repository: { url: repo.dir, commitSha: null, branch: "main" },
      ...o,
    });

  it(
    "plans only the targets, logs init in PREPARING_REPLAN, and its archive applies only them",
    async () => {
      const plan = await recordRun(
        executor,
        spec({ replanTargets: ["terraform_data.a"] }),
        { workDir: workDir() },
      );
      expect(plan.outcome.ok, plan.text).toBe(true);
      expect(plan.states).toEqual(["PREPARING_REPLAN", "PLANNING"]);
      expect(plan.logs).toContainEqual({
        state: "PREPARING_REPLAN",
        line: expect.stringContaining(
          "OpenTofu has been successfully initialized",
        ),
      });
      expect(plan.logs).toContainEqual({
        state: "PLANNING",
        line: expect.stringMatching(
          /running tofu plan .*-target=terraform_data\.a$/,
        ),
      });
      expect(plan.outcome.plan).toMatchObject({
        hasChanges: true,
        add: 1,
        resources: [{ address: "terraform_data.a", actions: ["create"] }],
      });
      expect(
        plan.outcome.planDocument?.resource_changes.map((r) => r.address),
      ).toEqual(["terraform_data.a"]);

      const apply = await recordRun(executor, spec({ phase: "apply" }), {
        workDir: workDir(),
        workspaceArchive: plan.outcome.workspaceArchive,
      });
      expect(apply.outcome, apply.text).toEqual({ ok: true });
      expect(apply.text).toContain(
        "Resources: 1 added, 0 changed, 0 destroyed",
      );
      expect(apply.text).toContain("terraform_data.a: Creation complete");
      expect(apply.text).not.toContain("terraform_data.b");
    },
    TIMEOUT,
  );

  it("refuses a target that is not a resource address before running anything", async () => {
    const run = await recordRun(
      executor,
      spec({ replanTargets: ["terraform_data.a", "-destroy"] }),
      { workDir: workDir() },
    );
    expect(run.outcome).toEqual({
      ok: false,
      failureReason: 'replan target "-destroy" is not a resource address',
    });
    expect(run.text).not.toContain("checking out");
  });

  it("refuses targets outside the plan phase of a tracked run", async () => {
    const run = await recordRun(
      executor,
      spec({ runType: "PROPOSED", replanTargets: ["terraform_data.a"] }),
      { workDir: workDir() },
    );
    expect(run.outcome.ok).toBe(false);
    expect(run.outcome.failureReason).toMatch(
      /a targeted replan is a plan of a tracked run/,
    );
  });
});
