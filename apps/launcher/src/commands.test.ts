import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findExecutable } from "./executor/sandbox.ts";
import { TestServer } from "../test/test-server.ts";

// The real CLI entry point, as `stackyard up` starts it.
const CLI = fileURLToPath(
  new URL("../../cli/bin/stackyard.js", import.meta.url),
);

let server: TestServer;
let workDir: string;
let child: ChildProcess | null = null;

beforeEach(async () => {
  server = new TestServer();
  await server.start();
  workDir = mkdtempSync(path.join(tmpdir(), "stackyard-launcher-cmd-"));
});

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null)
    child.kill("SIGKILL");
  child = null;
  await server.stop();
  rmSync(workDir, { recursive: true, force: true });
});

function startLauncher(env: Record<string, string>): {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
} {
  let stderr = "";
  const c = fork(CLI, ["launcher"], {
    env: {
      PATH: process.env.PATH ?? "",
      STACKYARD_LAUNCHER_WORK_DIR: workDir,
      STACKYARD_LOG_LEVEL: "warn",
      STACKYARD_POOL_PRIVATE_KEY: server.poolKey.base64Pem,
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  c.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  child = c;
  const exited = new Promise<number | null>((resolve) =>
    c.once("exit", (code) => resolve(code)),
  );
  return { child: c, exited, stderr: () => stderr };
}

describe("stackyard launcher", () => {
  it("unregisters and exits 0 on SIGTERM", async () => {
    const run = startLauncher({
      STACKYARD_TOKEN: server.token(),
      STACKYARD_WORKER_ID: "wkr_sigterm",
    });
    await expect
      .poll(() => server.messages("worker.register").length, {
        timeout: 15_000,
      })
      .toBe(1);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(server.messages("worker.unregister")).toMatchObject([
      { workerId: "wkr_sigterm", reason: "received SIGTERM" },
    ]);
  });

  it("exits when its parent's IPC channel disconnects", async () => {
    const run = startLauncher({
      STACKYARD_TOKEN: server.token(),
      STACKYARD_WORKER_ID: "wkr_orphan",
    });
    await expect
      .poll(() => server.messages("worker.register").length, {
        timeout: 15_000,
      })
      .toBe(1);
    run.child.disconnect();
    expect(await run.exited).toBe(0);
    expect(server.messages("worker.unregister")).toMatchObject([
      { workerId: "wkr_orphan", reason: "parent process exited" },
    ]);
  });

  it("reports its sandbox to the parent and in its worker tags", async () => {
    const reports: unknown[] = [];
    const run = startLauncher({
      STACKYARD_TOKEN: server.token(),
      STACKYARD_WORKER_ID: "wkr_sandbox",
    });
    run.child.on("message", (m) => reports.push(m));
    await expect.poll(() => reports.length, { timeout: 15_000 }).toBe(1);
    const bwrap = findExecutable("bwrap", process.env.PATH ?? "");
    expect(reports[0]).toMatchObject({
      type: "stackyard.sandbox",
      kind: bwrap ? "bubblewrap" : "none",
    });
    expect(server.messages("worker.register")).toMatchObject([
      {
        workerId: "wkr_sandbox",
        metadata: { sandbox: bwrap ? "bubblewrap" : "none (runs refused)" },
      },
    ]);
  });

  it("without bubblewrap, says runs are refused unless allowed", async () => {
    const reports: unknown[] = [];
    const run = startLauncher({
      PATH: "/nonexistent",
      STACKYARD_TOKEN: server.token(),
      STACKYARD_WORKER_ID: "wkr_nobwrap",
      STACKYARD_UNSANDBOXED_RUNS: "true",
    });
    run.child.on("message", (m) => reports.push(m));
    await expect.poll(() => reports.length, { timeout: 15_000 }).toBe(1);
    expect(reports[0]).toEqual({
      type: "stackyard.sandbox",
      kind: "none",
      runsAllowed: true,
      reason: "bubblewrap (bwrap) is not installed",
    });
    expect(server.messages("worker.register")).toMatchObject([
      { metadata: { sandbox: "none (runs unsandboxed)" } },
    ]);
  });

  it("exits 1 with every configuration problem listed", async () => {
    const run = startLauncher({ STACKYARD_LOG_LEVEL: "loud" });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain(
      "stackyard launcher: invalid launcher configuration:",
    );
    expect(run.stderr()).toContain("STACKYARD_TOKEN is not set");
    expect(run.stderr()).toContain("STACKYARD_LOG_LEVEL must be one of");
  });

  it("exits 1 when the broker refuses the token", async () => {
    const run = startLauncher({
      STACKYARD_TOKEN: server.token({
        credential: "wrong-credential-0123456789",
      }),
    });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain("refused this worker");
  });
});
