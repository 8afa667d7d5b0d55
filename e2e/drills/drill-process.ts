import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { CLI, REPO_ROOT, waitFor } from "../harness.ts";

/**
 * One Stackyard process of the drill topology (a server role or the launcher), started
 * from the real CLI with its output appended to a log file, so a long series of drills
 * keeps no output in memory and a failed drill can point at the file.
 *
 * An exit the harness did not cause (it only ever SIGKILLs or SIGINTs) is recorded in
 * `unexpectedExits` and the process is started again after a second, as a supervisor
 * would; the drill in progress reports it as a failure.
 */
/**
 * A process start is bounded generously: on a loaded machine a server role spends most
 * of a minute compiling its TypeScript before it listens.
 */
const START_TIMEOUT_MS = 180_000;

export class DrillProcess {
  private child: ChildProcess | null = null;
  private expectingExit = false;
  private restartTimer: NodeJS.Timeout | null = null;
  readonly unexpectedExits: string[] = [];

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: () => Record<string, string>,
    readonly logFile: string,
    /** Resolves once the freshly started process serves; `logFrom` = log offset at spawn. */
    private readonly ready: (
      proc: DrillProcess,
      logFrom: number,
    ) => Promise<boolean>,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Text the process logged since byte `from` of its log file. */
  logSince(from: number): string {
    try {
      return readFileSync(this.logFile).subarray(from).toString();
    } catch {
      return "";
    }
  }

  async start(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    let from = 0;
    try {
      from = statSync(this.logFile).size;
    } catch {
      // No log yet.
    }
    const fd = openSync(this.logFile, "a");
    const child = spawn(process.execPath, [CLI, ...this.args], {
      cwd: REPO_ROOT,
      env: { ...stringEnv(process.env), ...this.env() },
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.expectingExit = false;
    child.once("exit", (code, signal) => {
      if (this.child !== child || this.expectingExit) return;
      this.unexpectedExits.push(
        `${this.name} exited on its own (code ${code}, signal ${signal}); see ${this.logFile}`,
      );
      this.child = null;
      this.restartTimer = setTimeout(() => {
        this.start().catch(() => undefined);
      }, 1000);
    });
    await waitFor(
      `${this.name} to be ready`,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(
            `${this.name} exited during start: ${this.logSince(from).slice(-2000)}`,
          );
        return this.ready(this, from);
      },
      timeoutMs,
    );
  }

  /** SIGKILL and wait for the exit: the fault the drills inject. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL", 0);
  }

  /** SIGINT (SIGKILL after `graceMs`) and wait for the exit. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    await this.signal("SIGINT", graceMs);
  }

  private async signal(sig: NodeJS.Signals, graceMs: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectingExit = true;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(sig);
    const timer =
      sig === "SIGKILL"
        ? null
        : setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    if (timer) clearTimeout(timer);
    this.child = null;
  }
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
