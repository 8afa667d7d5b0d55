import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DataDirLockedError, lockDataDir } from "./data-dir-lock.ts";

describe("data directory lock", () => {
  it("refuses a second owner while the first holds it, then frees it on release", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-lock-"));
    const child = spawn(process.execPath, [
      "-e",
      "setTimeout(() => {}, 30000)",
    ]);
    await writeFile(path.join(dir, "stackyard.pid"), `${child.pid}\n`);
    try {
      await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirLockedError);
      await expect(lockDataDir(dir)).rejects.toThrow(
        /already running on data directory .* \(pid \d+\)/,
      );
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
    }
    // The owner is gone: its pid file is stale and is taken over.
    const lock = await lockDataDir(dir);
    await lock.release();
    const again = await lockDataDir(dir);
    await again.release();
  });
});
