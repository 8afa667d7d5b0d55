import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../errors.ts";

export class DataDirLockedError extends AppError {
  override readonly code = "DATA_DIR_LOCKED";
}

export interface DataDirLock {
  release(): Promise<void>;
}

/**
 * One Stackyard process per data directory. The lock is a pid file created with O_EXCL;
 * a pid file whose process is gone (crash, SIGKILL) is stale and is taken over. Two
 * processes racing for a stale file both unlink it and retry the exclusive create, so
 * exactly one wins.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, "stackyard.pid");
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return {
        async release() {
          const owner = await readPid(file);
          if (owner === process.pid) await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = await readPid(file);
      if (owner !== null && owner !== process.pid && isAlive(owner)) {
        throw new DataDirLockedError(
          `Stackyard is already running on data directory ${dataDir} (pid ${owner}). Stop it first, or pass --data-dir to use another directory.`,
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new DataDirLockedError(
    `could not lock data directory ${dataDir}; retry`,
  );
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(file, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
