import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createProcessExecutor } from "./process-executor.ts";
import type { SandboxStatus } from "./sandbox.ts";
import {
  buildSpec,
  createTestRepo,
  hasBubblewrap,
  recordRun,
  tempDir,
} from "../../test/executor-support.ts";

// Without a sandbox a run is refused unless the operator allowed unsandboxed runs.
// A task with skipInit needs no real OpenTofu: a stub `tofu` stands in for the lookup.
const NO_SANDBOX: SandboxStatus = {
  kind: "none",
  reason: "bubblewrap (bwrap) is not installed",
};
const cleanup: string[] = [];
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true });
});

function dirs(): { workDir: string; binDir: string } {
  const root = tempDir("sandbox-exec");
  cleanup.push(root);
  const binDir = path.join(root, "bin");
  mkdirSync(binDir);
  writeFileSync(path.join(binDir, "tofu"), "#!/bin/sh\nexit 0\n", {
    mode: 0o755,
  });
  return { workDir: path.join(root, "work"), binDir };
}

function taskSpec() {
  const repo = createTestRepo();
  cleanup.push(repo.dir);
  repo.commit({ "main.tf": "" });
  return buildSpec({
    runType: "TASK",
    phase: "perform",
    command: "echo task-ran",
    skipInit: true,
    hooks: { beforePerform: ["echo hook-ran"] },
    repository: { url: repo.dir, commitSha: null, branch: "main" },
  });
}

describe("runs without a sandbox", () => {
  it("are refused by default, with the reason and the way out", async () => {
    const executor = createProcessExecutor({
      hostPath: process.env.PATH,
      sandbox: NO_SANDBOX,
    });
    const { workDir, binDir } = dirs();
    const run = await recordRun(executor, taskSpec(), { workDir, binDir });
    expect(run.outcome.ok).toBe(false);
    expect(run.outcome.failureReason).toContain(
      "refuses to execute runs without a sandbox: bubblewrap (bwrap) is not installed",
    );
    expect(run.outcome.failureReason).toContain(
      "STACKYARD_UNSANDBOXED_RUNS=true",
    );
    expect(run.text).not.toContain("hook-ran");
    expect(run.text).not.toContain("task-ran");
    // Nothing was checked out.
    expect(existsSync(workDir)).toBe(false);
  });

  it("execute, with a note, when STACKYARD_UNSANDBOXED_RUNS allows them", async () => {
    const executor = createProcessExecutor({
      hostPath: process.env.PATH,
      sandbox: NO_SANDBOX,
      allowUnsandboxed: true,
    });
    const { workDir, binDir } = dirs();
    const run = await recordRun(executor, taskSpec(), { workDir, binDir });
    expect(run.outcome.ok, run.text).toBe(true);
    expect(run.text).toContain(
      "sandbox: none (bubblewrap (bwrap) is not installed); run processes are not isolated",
    );
    expect(run.text).toContain("task-ran");
  });

  it.skipIf(!hasBubblewrap())(
    "are sandboxed by default when bubblewrap works, whatever the setting",
    async () => {
      const executor = createProcessExecutor({
        hostPath: process.env.PATH,
        allowUnsandboxed: true,
      });
      const { workDir, binDir } = dirs();
      const run = await recordRun(executor, taskSpec(), { workDir, binDir });
      expect(run.outcome.ok, run.text).toBe(true);
      expect(run.text).toContain(
        "sandbox: run processes run inside bubblewrap",
      );
    },
  );
});
