import { describe, expect, it } from "vitest";
import { runProcess } from "./process-runner.ts";

const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

function run(
  script: string,
  signal = new AbortController().signal,
  graceMs = 1000,
) {
  const lines: string[] = [];
  const result = runProcess({
    argv: ["/bin/sh", "-c", script],
    cwd: "/",
    env,
    onLine: (l) => lines.push(l),
    signal,
    graceMs,
  });
  return { lines, result };
}

describe("runProcess", () => {
  it("keeps stdout and stderr in the order they were written", async () => {
    const { lines, result } = run("echo one; echo two >&2; echo three");
    expect(await result).toMatchObject({ exitCode: 0, aborted: false });
    expect(lines).toEqual(["one", "two", "three"]);
  });

  it("does not wait for background processes left in the group", async () => {
    const started = Date.now();
    const { result } = run("sleep 30 & echo started");
    expect((await result).exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("interrupts the whole group, escalating to SIGKILL for a process ignoring signals", async () => {
    const abort = new AbortController();
    const { lines, result } = run(
      "trap 'echo got INT' INT; trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done",
      abort.signal,
      300,
    );
    await expect.poll(() => lines, { timeout: 5000 }).toContain("ready");
    const started = Date.now();
    abort.abort();
    const outcome = await result;
    expect(outcome).toMatchObject({ aborted: true, exitSignal: "SIGKILL" });
    expect(lines).toEqual(
      expect.arrayContaining(["ready", "got INT", "got TERM"]),
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("captures stdout separately when asked", async () => {
    const lines: string[] = [];
    const result = await runProcess({
      argv: ["/bin/sh", "-c", "printf '{\"a\":1}'; echo warning >&2"],
      cwd: "/",
      env,
      onLine: (l) => lines.push(l),
      captureStdout: true,
      signal: new AbortController().signal,
      graceMs: 1000,
    });
    expect(result.stdout?.toString()).toBe('{"a":1}');
    expect(lines).toEqual(["warning"]);
  });

  it("reports a missing executable", async () => {
    const result = await runProcess({
      argv: ["/nonexistent/tool"],
      cwd: "/",
      env,
      onLine: () => {},
      captureStdout: true,
      signal: new AbortController().signal,
      graceMs: 1000,
    });
    expect(result.spawnError?.message).toContain("ENOENT");
  });
});
