import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { installProcessErrorHandlers } from "./process-errors.ts";

const FIXTURE = fileURLToPath(
  new URL("../../../test/fixtures/process/crashing-server.ts", import.meta.url),
);

describe("installProcessErrorHandlers", () => {
  it("logs uncaught exceptions and unhandled rejections, and uninstalls", () => {
    const proc = new EventEmitter();
    const logged: Array<{ obj: Record<string, unknown>; msg: string }> = [];
    const uninstall = installProcessErrorHandlers(
      {
        error: (obj: Record<string, unknown>, msg: string) =>
          logged.push({ obj, msg }),
      } as never,
      proc as never,
    );
    const boom = new Error("boom");
    proc.emit("uncaughtException", boom, "uncaughtException");
    proc.emit("unhandledRejection", "why", Promise.resolve());
    expect(logged).toEqual([
      {
        obj: { err: boom, origin: "uncaughtException" },
        msg: expect.stringContaining("still serving") as string,
      },
      {
        obj: { err: "why" },
        msg: expect.stringContaining("unhandled promise rejection") as string,
      },
    ]);
    uninstall();
    expect(proc.listenerCount("uncaughtException")).toBe(0);
    expect(proc.listenerCount("unhandledRejection")).toBe(0);
  });

  it("keeps a real process serving after both", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      child.stdout.setEncoding("utf8");
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on("data", (d: string) => {
          out += d;
          const m = /LISTENING (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", (code) =>
          reject(new Error(`exited with ${code}: ${out}`)),
        );
      });
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(await res.text()).toBe("alive");
      expect(out).toContain("boom from a timer");
      expect(out).toContain("nobody awaits this");
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill();
    }
  });
});
