/**
 * A run's directory on the worker host, and filling it: git checkout, mounted files,
 * project root. Layout of `<workDir>/<runId>-<phase>-<random>/`:
 *   workspace/          the workspace root (Spacelift's /mnt/workspace); archived for apply
 *   workspace/source/   the repository checkout
 *   home/               HOME of every run process; holds the empty tool CLI config
 *   tmp/                TMPDIR
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  lstat,
  mkdir,
  mkdtemp,
  realpath,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { redactUrlCredentials } from "@stackyard/protocol";

/** A problem with the run's inputs (repository, paths); its message is user-facing. */
export class WorkspaceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WorkspaceError";
  }
}

export interface RunDirectory {
  runDir: string;
  workspaceRoot: string;
  sourceDir: string;
  homeDir: string;
  tmpDir: string;
  /** An empty CLI config file: no credentials or provider mirrors from the host. */
  cliConfigFile: string;
}

/** Creates a fresh run directory; `name` is sanitised into the directory name. */
export async function createRunDirectory(
  workDir: string,
  name: string,
): Promise<RunDirectory> {
  await mkdir(workDir, { recursive: true });
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 100);
  const runDir = await mkdtemp(
    path.join(workDir, `${safe}-${randomBytes(3).toString("hex")}`),
  );
  const dirs: RunDirectory = {
    runDir,
    workspaceRoot: path.join(runDir, "workspace"),
    sourceDir: path.join(runDir, "workspace", "source"),
    homeDir: path.join(runDir, "home"),
    tmpDir: path.join(runDir, "tmp"),
    cliConfigFile: path.join(runDir, "home", "cli.tfrc"),
  };
  await mkdir(dirs.workspaceRoot);
  await mkdir(dirs.homeDir);
  await mkdir(dirs.tmpDir);
  await writeFile(dirs.cliConfigFile, "");
  return dirs;
}

export { redactUrlCredentials };

/** The URL without userinfo; unchanged when it is a path or has none. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.href;
  } catch {
    return url;
  }
}

export interface CloneRequest {
  /** May carry credentials: they never reach an error, a log line or `.git/config`. */
  url: string;
  branch: string;
  commitSha: string | null;
  sourceDir: string;
  /** Environment for git; HOME should be the run's empty home (no host git config). */
  env: Record<string, string>;
  signal: AbortSignal;
  /** git's own output, line by line (unmasked). */
  onLine(line: string): void;
}

/**
 * Clones `url` into `sourceDir` and checks out `commitSha`, or the head of `branch`
 * (as a local branch of that name) when it is null. Works without network for local
 * paths and file:// URLs. Submodules are not fetched. Returns the checked-out SHA.
 * Credentials in `url` are dropped from the clone's `origin` remote right after the
 * clone, so the checkout (and the workspace archived from it) never holds them.
 */
export async function cloneRepository(req: CloneRequest): Promise<string> {
  if (req.commitSha !== null && !/^[0-9a-f]{4,64}$/i.test(req.commitSha))
    throw new WorkspaceError(`invalid commit SHA "${req.commitSha}"`);
  if (req.branch === "" || req.branch.startsWith("-"))
    throw new WorkspaceError(`invalid branch name "${req.branch}"`);
  const git = (args: string[], what: string) =>
    runGit(args, what, req).then((out) => out.trim());

  await git(
    [
      "clone",
      "--quiet",
      "--no-checkout",
      "--no-hardlinks",
      "--",
      req.url,
      req.sourceDir,
    ],
    "git clone",
  );
  const inRepo = ["-C", req.sourceDir, "-c", "advice.detachedHead=false"];
  const plainUrl = withoutCredentials(req.url);
  if (plainUrl !== req.url)
    await git(
      [...inRepo, "remote", "set-url", "origin", plainUrl],
      "git remote set-url",
    );
  if (req.commitSha !== null) {
    await git(
      [...inRepo, "checkout", "--quiet", "--detach", req.commitSha],
      `checking out commit ${req.commitSha}`,
    );
  } else {
    await git(
      [
        ...inRepo,
        "checkout",
        "--quiet",
        "-B",
        req.branch,
        `refs/remotes/origin/${req.branch}`,
      ],
      `checking out branch ${req.branch}`,
    );
  }
  return git([...inRepo, "rev-parse", "HEAD"], "git rev-parse");
}

function runGit(
  args: string[],
  what: string,
  req: Pick<CloneRequest, "env" | "signal" | "onLine">,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      { env: req.env, signal: req.signal, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        for (const line of stderr.split("\n"))
          if (line) req.onLine(redactUrlCredentials(line));
        if (!err) return resolve(stdout);
        // The error's message holds the command line, clone URL included: it is
        // redacted, and the raw error is not kept as the cause.
        if (req.signal.aborted)
          return reject(new Error(redactUrlCredentials(err.message)));
        const code = (err as { code?: unknown }).code;
        reject(
          new WorkspaceError(
            typeof code === "number"
              ? `${what} failed with exit code ${code}`
              : `${what} failed: ${redactUrlCredentials(err.message)}`,
          ),
        );
      },
    );
  });
}

/**
 * `relative` joined to `root`, refusing absolute paths and `..` escapes. Symlinks are
 * checked separately, where the path is used.
 */
export function resolveInside(root: string, relative: string): string {
  if (path.isAbsolute(relative))
    throw new WorkspaceError(`path "${relative}" must be relative`);
  const resolved = path.resolve(root, relative);
  const rel = path.relative(root, resolved);
  if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))
    throw new WorkspaceError(`path "${relative}" leaves the workspace`);
  return resolved;
}

async function assertRealInside(
  root: string,
  target: string,
  label: string,
): Promise<void> {
  const realRoot = await realpath(root);
  const real = await realpath(target);
  if (real !== realRoot && !real.startsWith(realRoot + path.sep))
    throw new WorkspaceError(`${label} resolves outside the workspace`);
}

/** The deepest existing ancestor of `target` (itself when it exists). */
async function existingAncestor(target: string): Promise<string> {
  for (let dir = target; ; dir = path.dirname(dir)) {
    try {
      await lstat(dir);
      return dir;
    } catch {
      if (path.dirname(dir) === dir) return dir;
    }
  }
}

export interface MountedFile {
  relativePath: string;
  contentBase64: string;
  secret: boolean;
}

/**
 * Writes mounted files relative to the workspace root, replacing source files at the
 * same path. Secret files get mode 0600, others 0644. Refuses paths leaving the
 * workspace, also through symlinks committed to the repository: an existing symlink at
 * the target path is replaced, never followed.
 */
export async function writeMountedFiles(
  workspaceRoot: string,
  files: readonly MountedFile[],
): Promise<void> {
  for (const file of files) {
    const target = resolveInside(workspaceRoot, file.relativePath);
    if (target === path.resolve(workspaceRoot))
      throw new WorkspaceError("a mounted file needs a file name");
    const parent = path.dirname(target);
    const label = `mounted file "${file.relativePath}"`;
    await assertRealInside(
      workspaceRoot,
      await existingAncestor(parent),
      label,
    );
    await mkdir(parent, { recursive: true });
    await assertRealInside(workspaceRoot, parent, label);
    try {
      await rm(target, { force: true });
      await writeFile(target, Buffer.from(file.contentBase64, "base64"), {
        mode: file.secret ? 0o600 : 0o644,
        flag: "wx",
      });
    } catch (err) {
      throw new WorkspaceError(`writing ${label}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

/** The project root inside the checkout; must exist, be a directory and stay inside. */
export async function resolveProjectRoot(
  sourceDir: string,
  projectRoot: string,
): Promise<string> {
  const dir = resolveInside(sourceDir, projectRoot);
  const label = `project root "${projectRoot}"`;
  try {
    if (!(await stat(dir)).isDirectory())
      throw new WorkspaceError(`${label} is not a directory`);
  } catch (err) {
    if (err instanceof WorkspaceError) throw err;
    throw new WorkspaceError(`${label} does not exist in the repository`);
  }
  await assertRealInside(sourceDir, dir, label);
  return dir;
}
