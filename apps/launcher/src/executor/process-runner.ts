import { spawn } from "node:child_process";
import { LineSplitter } from "./line-splitter.ts";

export interface ProcessRequest {
  /** Executable and arguments; no shell unless the caller asks for one. */
  argv: readonly string[];
  cwd: string;
  /** The complete environment; nothing is inherited. */
  env: Record<string, string>;
  /** Each output line, unmasked; stdout and stderr merged in order unless captureStdout. */
  onLine(line: string): void;
  /** Collect stdout into `ProcessResult.stdout` (stderr still goes to onLine). */
  captureStdout?: boolean;
  signal: AbortSignal;
  graceMs: number;
}

export interface ProcessResult {
  /** Exit code, or null when ended by a signal or not started. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** The stop sequence ran because `signal` aborted. */
  aborted: boolean;
  /** The process could not be started (missing executable, bad cwd). */
  spawnError?: Error;
  stdout?: Buffer;
}

/** Hard cap on captured stdout (plan JSON); past it the process is killed. */
const MAX_CAPTURE_BYTES = 512 * 1024 * 1024;
/** How long to wait for output pipes to close after the process exited. */
const PIPE_DRAIN_MS = 2_000;

/**
 * Runs one process to completion, streaming its output as lines.
 *
 * Process group: the child starts detached, i.e. as the leader of a new session and
 * process group, so a signal sent to `-pid` reaches the whole tree (a hook's `sleep`,
 * OpenTofu's provider plugins) and nothing of the launcher.
 *
 * Stop: when `signal` aborts, the group gets SIGINT (OpenTofu stops gracefully and
 * releases its state lock), SIGTERM after `graceMs` and SIGKILL after `2 × graceMs`.
 *
 * Exit: when the leader exits, the rest of its group is SIGKILLed. A step therefore
 * leaves nothing behind (a hook's `sleep 600 &` would otherwise hold the output pipe
 * and keep the step from ending). Processes that left the group (setsid daemons) are
 * not tracked; if they keep the pipes open the result comes after PIPE_DRAIN_MS anyway.
 * While stopping, the leader's exit kills nothing early: a wrapper leader (bubblewrap)
 * dies of SIGINT at once while OpenTofu inside is still releasing its lock; the
 * SIGTERM/SIGKILL timers bound that.
 *
 * Merged output: stderr is redirected into stdout by a `sh -c 'exec "$@" 2>&1'`
 * wrapper, so lines keep the order the process wrote them in; two pipes could not.
 */
export function runProcess(req: ProcessRequest): Promise<ProcessResult> {
  if (req.signal.aborted)
    return Promise.resolve({ exitCode: null, exitSignal: null, aborted: true });
  const argv = req.captureStdout
    ? req.argv
    : ["/bin/sh", "-c", 'exec "$@" 2>&1', "sh", ...req.argv];
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("runProcess: empty argv");

  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timers: NodeJS.Timeout[] = [];
    const chunks: Buffer[] = [];
    let captured = 0;
    let aborted = false;
    let settled = false;
    let spawnError: Error | undefined;

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const onAbort = () => {
      aborted = true;
      killGroup("SIGINT");
      timers.push(setTimeout(() => killGroup("SIGTERM"), req.graceMs));
      timers.push(setTimeout(() => killGroup("SIGKILL"), 2 * req.graceMs));
    };
    req.signal.addEventListener("abort", onAbort, { once: true });

    const outLines = new LineSplitter(req.onLine);
    const errLines = new LineSplitter(req.onLine);
    child.stdout.on("data", (chunk: Buffer) => {
      if (!req.captureStdout) return outLines.write(chunk);
      captured += chunk.length;
      if (captured > MAX_CAPTURE_BYTES) {
        spawnError ??= new Error(
          `output exceeded ${MAX_CAPTURE_BYTES} bytes; process killed`,
        );
        killGroup("SIGKILL");
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => errLines.write(chunk));

    const finish = (code: number | null, sig: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener("abort", onAbort);
      for (const t of timers) clearTimeout(t);
      outLines.end();
      errLines.end();
      resolve({
        exitCode: code,
        exitSignal: sig,
        aborted,
        ...(spawnError ? { spawnError } : {}),
        ...(req.captureStdout ? { stdout: Buffer.concat(chunks) } : {}),
      });
    };
    child.once("error", (err) => {
      spawnError ??= err;
      if (child.pid === undefined) finish(null, null);
    });
    child.once("exit", (code, sig) => {
      if (!aborted) killGroup("SIGKILL");
      const drainMs = aborted ? 2 * req.graceMs + PIPE_DRAIN_MS : PIPE_DRAIN_MS;
      const drain = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(code, sig);
      }, drainMs);
      timers.push(drain);
      child.once("close", () => finish(code, sig));
    });
  });
}
