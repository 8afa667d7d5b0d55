import { accessSync, constants } from "node:fs";
import path from "node:path";

export type SandboxMode = "auto" | "off";

/** Wraps a run's process argv; `null` = run unsandboxed. */
export type SandboxWrapper = (
  argv: readonly string[],
  dirs: { runDir: string; workDir: string; binDir: string; cwd: string },
) => string[];

/** The first executable `name` on `searchPath` (a PATH string), or null. */
export function findExecutable(
  name: string,
  searchPath: string,
): string | null {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * bubblewrap around every process the run starts (hooks, the tool, the task command).
 * What it isolates:
 * - the filesystem: `/` is read-only; only the run's own directory is writable, and
 *   the launcher's work dir is hidden behind an empty tmpfs so a run cannot read other
 *   runs' workspaces (the bin dir is mounted back read-only); `/tmp` is a private tmpfs;
 * - process, IPC, UTS and cgroup namespaces: a run cannot see or signal launcher
 *   processes. The run stays in the launcher-created process group (no
 *   `--new-session`), so the stop sequence reaches it directly; no
 *   `--die-with-parent`, since bubblewrap itself dies of the SIGINT and must not take
 *   OpenTofu down before it released its state lock.
 * What it does not: the network is shared (the HTTP state backend, provider and module
 * registries), and other readable host files stay readable. A container executor is
 * the answer when that matters.
 */
export function bubblewrap(bwrapPath: string): SandboxWrapper {
  return (argv, { runDir, workDir, binDir, cwd }) => [
    bwrapPath,
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    workDir,
    // The default bin dir lives inside the work dir: bring it back, read-only.
    "--ro-bind",
    binDir,
    binDir,
    "--bind",
    runDir,
    runDir,
    "--unshare-all",
    "--share-net",
    "--chdir",
    cwd,
    "--",
    ...argv,
  ];
}
