import { execFile } from "node:child_process";
import {
  accessSync,
  constants,
  lstatSync,
  readdirSync,
  readlinkSync,
  realpathSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

/** Wraps a run process's argv so it runs inside the sandbox. */
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

/** Host directories a run sees read-only: the programs, their libraries and /etc. */
const SYSTEM_ROOTS = ["/usr", "/etc"] as const;
/** Top-level names that are symlinks into /usr on merged-/usr systems, else directories. */
const SYSTEM_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** Host secrets under /etc, replaced by an empty file or an empty read-only directory. */
const ETC_SECRETS = [
  "/etc/shadow",
  "/etc/shadow-",
  "/etc/gshadow",
  "/etc/gshadow-",
  "/etc/sudoers",
  "/etc/sudoers.d",
  "/etc/ssl/private",
  "/etc/security/opasswd",
  "/etc/krb5.keytab",
  "/etc/stackyard",
];
/**
 * Files under /etc that name-resolution and TLS need and that are often symlinks out of
 * /etc (systemd-resolved's /etc/resolv.conf → /run/systemd/resolve/...): their target is
 * mounted too when it lies outside the system roots.
 */
const ETC_LINKED = [
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/localtime",
  "/etc/ssl/certs/ca-certificates.crt",
];

type Kind = "dir" | "file" | "link" | null;

function kindOf(p: string): Kind {
  try {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return "link";
    return st.isDirectory() ? "dir" : "file";
  } catch {
    return null;
  }
}

/** `child` is `parent` or inside it (both absolute, normalised). */
export function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * The mount arguments that hide `p`: an empty directory (a tmpfs private to the sandbox,
 * writable so that the run directory may be mounted inside it), or /dev/null for a file.
 */
function hide(p: string): string[] {
  const kind = kindOf(p);
  if (kind === "dir") return ["--tmpfs", p];
  if (kind === "file") return ["--ro-bind", "/dev/null", p];
  return [];
}

/**
 * The part of the bubblewrap command line that depends only on the host: read-only
 * system roots, the /usr symlinks, and the /etc secrets masked. Read from the host
 * once, when the wrapper is made.
 */
export function systemMounts(): string[] {
  const args: string[] = [];
  for (const root of SYSTEM_ROOTS)
    if (kindOf(root) === "dir") args.push("--ro-bind", root, root);
  for (const link of SYSTEM_LINKS) {
    const kind = kindOf(link);
    if (kind === "link") args.push("--symlink", readlinkSync(link), link);
    else if (kind === "dir") args.push("--ro-bind", link, link);
  }
  for (const file of ETC_LINKED) {
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      continue;
    }
    if (!SYSTEM_ROOTS.some((root) => isWithin(real, root)))
      args.push("--ro-bind", real, real);
  }
  for (const secret of ETC_SECRETS) args.push(...hide(secret));
  // sshd's private host keys; ssh_config and known hosts stay for git over SSH.
  try {
    for (const name of readdirSync("/etc/ssh"))
      if (/_key$/.test(name)) args.push(...hide(path.join("/etc/ssh", name)));
  } catch {
    // no /etc/ssh
  }
  return args;
}

/**
 * bubblewrap around every process the run starts (hooks, the tool, the task command).
 *
 * The filesystem is an allowlist on an empty root: /usr, /etc (host secrets masked, see
 * ETC_SECRETS) and the /bin, /lib... links read-only; the tool bin dir read-only; the
 * run's own directory read-write (it holds HOME and TMPDIR); a fresh /dev, /proc and
 * /tmp. Nothing else of the host exists inside: not the launcher's work dir (other runs),
 * the data dir of `stackyard up` (keys, the launcher's credentials, the Postgres
 * password), `$HOME`, /root, /home, /var, /run (OPA's socket). `hiddenPaths` (plus the
 * launcher's work dir) are hidden even when they lie under a mounted directory, e.g. a
 * data dir in /etc.
 *
 * Namespaces: PID, IPC, UTS, cgroup (and user where permitted) are new, so a run cannot
 * see, ptrace or signal the launcher or read its /proc/<pid>/environ; bubblewrap drops
 * every capability. The network is shared: runs reach the state backend, registries and
 * providers' APIs.
 *
 * The run stays in the launcher-created process group (no `--new-session`; the launcher
 * starts it as a session leader, so it has no controlling terminal), so the stop sequence
 * reaches it directly; no `--die-with-parent`, since bubblewrap itself dies of the
 * SIGINT and must not take OpenTofu down before it released its state lock.
 */
export function bubblewrap(
  bwrapPath: string,
  hiddenPaths: readonly string[] = [],
): SandboxWrapper {
  const system = systemMounts();
  const systemRoots = SYSTEM_ROOTS.filter((r) => kindOf(r) === "dir");
  return (argv, { runDir, workDir, binDir, cwd }) => {
    const hidden = [...hiddenPaths, workDir].map((p) => path.resolve(p));
    const hideUnder = (roots: readonly string[]) =>
      hidden
        .filter((p) => roots.some((root) => isWithin(p, root)))
        .flatMap(hide);
    return [
      bwrapPath,
      ...system,
      ...hideUnder(systemRoots),
      "--ro-bind",
      binDir,
      binDir,
      ...hideUnder([binDir]),
      "--dev",
      "/dev",
      "--proc",
      "/proc",
      "--tmpfs",
      "/tmp",
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
  };
}

/** How run processes are isolated on this launcher, decided once at start. */
export type SandboxStatus =
  | { kind: "bubblewrap"; bwrapPath: string; wrap: SandboxWrapper }
  | { kind: "none"; reason: string };

const PROBE_TIMEOUT_MS = 15_000;

/**
 * Finds bubblewrap on `searchPath` and checks that it can build the run sandbox here
 * (namespaces may be forbidden, e.g. inside an unprivileged container), by running
 * `/bin/sh -c 'exit 0'` in it with the real mount layout on a scratch run directory.
 */
export async function probeSandbox(opts: {
  searchPath: string;
  hiddenPaths?: readonly string[];
}): Promise<SandboxStatus> {
  const bwrapPath = findExecutable("bwrap", opts.searchPath);
  if (!bwrapPath)
    return {
      kind: "none",
      reason: "bubblewrap (bwrap) is not installed",
    };
  const wrap = bubblewrap(bwrapPath, opts.hiddenPaths);
  const scratch = await mkdtemp(path.join(os.tmpdir(), "stackyard-probe-"));
  try {
    const [file, ...args] = wrap(["/bin/sh", "-c", "exit 0"], {
      runDir: scratch,
      workDir: path.join(scratch, "work"),
      binDir: scratch,
      cwd: scratch,
    });
    const failure = await new Promise<string | null>((resolve) => {
      execFile(
        file ?? bwrapPath,
        args,
        { timeout: PROBE_TIMEOUT_MS, env: { PATH: opts.searchPath } },
        (err, _stdout, stderr) =>
          resolve(err ? (stderr.trim() || err.message).slice(0, 500) : null),
      );
    });
    if (failure !== null)
      return {
        kind: "none",
        reason: `bubblewrap (${bwrapPath}) cannot create a sandbox here: ${failure}`,
      };
    return { kind: "bubblewrap", bwrapPath, wrap };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** What a phase does about isolation: wrap its processes, note it, or refuse to run. */
export function sandboxPolicy(
  sandbox: SandboxStatus | "off",
  allowUnsandboxed: boolean,
): {
  sandbox: SandboxWrapper | null;
  sandboxNote: string | null;
  refusal: string | null;
} {
  if (sandbox === "off")
    return { sandbox: null, sandboxNote: null, refusal: null };
  if (sandbox.kind === "bubblewrap")
    return {
      sandbox: sandbox.wrap,
      sandboxNote: `sandbox: run processes run inside bubblewrap (${sandbox.bwrapPath})`,
      refusal: null,
    };
  if (allowUnsandboxed)
    return {
      sandbox: null,
      sandboxNote: `sandbox: none (${sandbox.reason}); run processes are not isolated from this host (STACKYARD_UNSANDBOXED_RUNS=true)`,
      refusal: null,
    };
  return {
    sandbox: null,
    sandboxNote: null,
    refusal: `this worker refuses to execute runs without a sandbox: ${sandbox.reason}. Install bubblewrap on the worker host (Debian: apt-get install bubblewrap), or set STACKYARD_UNSANDBOXED_RUNS=true on the launcher to let runs read everything the launcher can`,
  };
}
