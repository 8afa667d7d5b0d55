import { existsSync, readdirSync, symlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WORKER_POOLS } from "@stackyard/api-client";
import { waitFor } from "./harness.ts";
import {
  createStack,
  gitRepo,
  runHistory,
  startUp,
  triggerRun,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// `stackyard up` on a machine where bubblewrap cannot be found (its PATH holds no bwrap):
// the operator is told at start and on the UI (the workers' `sandbox` tag feeds the
// banner), and runs fail with the reason instead of executing unsandboxed.
describe("stackyard up without a sandbox", () => {
  let sy: Stackyard;
  let pathDir: string;

  beforeAll(async () => {
    // Every program of the system directories but bwrap (embedded Postgres needs some).
    pathDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-nobwrap-path-"));
    for (const dir of [
      "/usr/local/bin",
      "/usr/sbin",
      "/usr/bin",
      "/sbin",
      "/bin",
    ])
      for (const name of existsSync(dir) ? readdirSync(dir) : [])
        if (name !== "bwrap" && !existsSync(path.join(pathDir, name)))
          symlinkSync(path.join(dir, name), path.join(pathDir, name));
    sy = await startUp({ PATH: pathDir });
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
    if (sy) await rm(sy.dataDir, { recursive: true, force: true });
    if (pathDir) await rm(pathDir, { recursive: true, force: true });
  });

  it("warns at start and on the UI, and refuses runs", async () => {
    const out = sy.proc.output();
    expect(out).toContain(
      "WARNING: runs are not sandboxed here: bubblewrap (bwrap) is not installed.",
    );
    expect(out).toContain("STACKYARD_UNSANDBOXED_RUNS=true");

    const tags = await waitFor("the local worker's sandbox tag", async () => {
      const data = await sy.client.request(WORKER_POOLS);
      return data.workerPools
        .flatMap((p) => p.workers)
        .filter((w) => w.status !== "GONE")
        .map((w) => (JSON.parse(w.metadata) as { sandbox?: string }).sandbox)
        .find(Boolean);
    });
    expect(tags).toBe("none (runs refused)");

    const stack = await createStack(sy.client, {
      name: "no-sandbox",
      repository: await gitRepo(),
      beforePlan: ["echo SHOULD-NOT-RUN"],
    });
    const run = await triggerRun(sy.client, stack);
    await waitForRunState(sy.client, stack, run, ["FAILED"], 120_000);
    const notes = (await runHistory(sy.client, stack, run))
      .map((t) => t.note ?? "")
      .join("\n");
    expect(notes).toContain(
      "refuses to execute runs without a sandbox: bubblewrap (bwrap) is not installed",
    );
  }, 240_000);
});
