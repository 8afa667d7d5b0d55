import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { UnavailableError } from "../../platform/errors.ts";
import { opaRequest } from "./opa-http.ts";
import type { Logger } from "../../platform/log/logger.ts";

/**
 * Where policies are evaluated: an OPA server, reached over its REST API.
 *
 * `generation` changes whenever the server behind `url` may have lost its policies (an
 * embedded process restarted); the client re-uploads policies it had pushed to an older
 * generation before evaluating them.
 */
export interface OpaEndpoint {
  /**
   * The base URL (`http(s)://...`, or `unix://<socket>` for the embedded server; see
   * opaRequest), starting the server first when it is embedded and not running.
   */
  url(): Promise<string>;
  generation(): number;
  stop(): Promise<void>;
}

/** A configured OPA server (STACKYARD_OPA_URL); Stackyard never starts or stops it. */
export function externalOpa(url: string): OpaEndpoint {
  return {
    url: async () => url,
    generation: () => 0,
    stop: async () => undefined,
  };
}

/** The opa binary: `<binDir>/opa`, else the toolchain cache, else `opa` on PATH. */
export function findOpaBinary(binDir: string | null): string {
  if (binDir) return path.join(binDir, "opa");
  const cached = path.join(
    os.homedir(),
    ".cache",
    "stackyard",
    "toolchain",
    "bin",
    "opa",
  );
  return existsSync(cached) ? cached : "opa";
}

const HEALTH_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** util-linux setpriv on Linux; elsewhere OPA is spawned directly. */
const PDEATHSIG_WRAPPER =
  process.platform === "linux"
    ? (["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p)) ?? null)
    : null;
/** util-linux prlimit, which sets the memory limit; without it OPA runs unlimited. */
const PRLIMIT =
  process.platform === "linux"
    ? (["/usr/bin/prlimit", "/bin/prlimit"].find((p) => existsSync(p)) ?? null)
    : null;

/**
 * OPA as a child process of the server: `opa run --server --v0-compatible` with no
 * bundles; policies are pushed through the Policy API.
 *
 * Reachable only by this process: OPA has no authentication by default and its Policy
 * API can read and replace every policy, so it listens on no TCP port but on a Unix
 * socket (mode 0600) in a fresh private directory (0700) under the temp dir, which runs
 * never see (their sandbox has its own /tmp). The directory goes away with the process.
 *
 * Lifecycle: started on the first `url()` (only processes that evaluate policies, the
 * api and drain roles, ever start one), ready once `/health` answers. A process that
 * exits without being asked is started again on the next `url()` after a backoff
 * (1 s doubling to 30 s), with a new generation so every policy is pushed again.
 * `stop()` sends SIGTERM, then SIGKILL after 5 s. Concurrent `url()` calls share one
 * start.
 *
 * Memory: OPA has no per-query memory limit, and a policy can build huge values. With
 * `memoryLimitMiB`, OPA's data segment is capped (RLIMIT_DATA through prlimit, which
 * bounds the Go heap) and its GC aims below the cap (GOMEMLIMIT, 75 %), so such a policy
 * ends this OPA process (the evaluations in flight fail, and it is started again)
 * instead of exhausting the host.
 */
export class EmbeddedOpa implements OpaEndpoint {
  private child: ChildProcess | null = null;
  private starting: Promise<string> | null = null;
  private baseUrl: string | null = null;
  private gen = 0;
  private stopped = false;
  private restartDelayMs = 1000;
  private notBefore = 0;

  constructor(
    private readonly opts: {
      binary: string;
      log: Logger;
      /** Extra `opa run` arguments (tests). */
      args?: string[];
      /** Cap of OPA's data segment, MiB (see the class comment); absent: none. */
      memoryLimitMiB?: number;
    },
  ) {}

  generation(): number {
    return this.gen;
  }

  url(): Promise<string> {
    if (this.stopped)
      return Promise.reject(
        new UnavailableError("the policy engine has been stopped"),
      );
    if (this.baseUrl && this.child) return Promise.resolve(this.baseUrl);
    this.starting ??= this.start().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async start(): Promise<string> {
    const wait = this.notBefore - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const socketDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-opa-"));
    const url = `unix://${path.join(socketDir, "opa.sock")}`;
    const removeSocketDir = () =>
      rmSync(socketDir, { recursive: true, force: true });
    const opaArgs = [
      "run",
      "--server",
      "--v0-compatible",
      "--addr",
      url,
      "--unix-socket-perm",
      "600",
      "--log-level",
      "error",
      "--skip-version-check",
      ...(this.opts.args ?? []),
    ];
    // With setpriv (util-linux), the kernel kills OPA when this process dies, even by
    // SIGKILL, so a crashed server never leaves an engine behind; setpriv execs OPA, so
    // the pid is OPA's.
    // Each wrapper execs the next, so the pid stays OPA's and the kernel's parent-death
    // signal (kept across exec) still points at this process.
    const limit = this.opts.memoryLimitMiB;
    const command = [
      ...(PDEATHSIG_WRAPPER
        ? [PDEATHSIG_WRAPPER, "--pdeathsig", "KILL", "--"]
        : []),
      ...(limit && PRLIMIT
        ? [PRLIMIT, `--data=${limit * 1024 * 1024}`, "--"]
        : []),
      this.opts.binary,
      ...opaArgs,
    ];
    const [file = this.opts.binary, ...argv] = command;
    const child = spawn(file, argv, {
      stdio: ["ignore", "ignore", "pipe"],
      env: limit
        ? { ...process.env, GOMEMLIMIT: `${Math.floor(limit * 0.75)}MiB` }
        : process.env,
    });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const spawnError = new Promise<never>((_, reject) => {
      child.once("error", (err) => {
        removeSocketDir();
        reject(
          new UnavailableError(
            `cannot start the policy engine (${this.opts.binary}): ${err.message}; run scripts/setup-toolchain.sh, set STACKYARD_BIN_DIR, or set STACKYARD_OPA_URL`,
            { cause: err },
          ),
        );
      });
    });
    spawnError.catch(() => undefined);
    child.once("exit", (code, signal) => {
      removeSocketDir();
      if (this.child !== child) return;
      this.child = null;
      this.baseUrl = null;
      if (this.stopped) return;
      this.gen++;
      this.notBefore = Date.now() + this.restartDelayMs;
      this.restartDelayMs = Math.min(
        this.restartDelayMs * 2,
        MAX_RESTART_DELAY_MS,
      );
      this.opts.log.error(
        { code, signal, stderr: stderr.trim().slice(-1000) },
        "the policy engine (opa) exited; it is started again on the next evaluation",
      );
    });
    this.child = child;
    this.gen++;
    const startedAt = Date.now();
    const deadline = startedAt + HEALTH_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new UnavailableError(
          `the policy engine exited while starting: ${stderr.trim() || `code ${child.exitCode}`}`,
        );
      const healthy = await Promise.race([
        opaRequest(url, "/health", {
          method: "GET",
          signal: AbortSignal.timeout(1000),
        })
          .then((r) => r.status === 200)
          .catch(() => false),
        spawnError,
      ]);
      if (healthy) break;
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new UnavailableError(
          `the policy engine did not become healthy within ${HEALTH_TIMEOUT_MS / 1000}s`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    // A process that stayed up a minute resets the backoff.
    setTimeout(() => {
      if (this.child === child) this.restartDelayMs = 1000;
    }, 60_000).unref();
    this.baseUrl = url;
    this.opts.log.info(
      { url, ms: Date.now() - startedAt },
      "policy engine (opa) started",
    );
    return url;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => undefined);
    const child = this.child;
    this.child = null;
    this.baseUrl = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** The child's pid (tests kill it to check the restart). */
  pid(): number | null {
    return this.child?.pid ?? null;
  }
}
