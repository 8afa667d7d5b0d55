import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  createClient,
  RUN_HISTORY,
  RUN_LOGS,
  RUN_TRIGGER,
  type ApiClient,
  type RunHistoryResult,
  type RunLogsResult,
  type RunTransition,
  type RunTriggerResult,
} from "@stackyard/api-client";
import {
  freePort,
  processesWithEnv,
  runCli,
  waitFor,
  type CliProcess,
} from "./harness.ts";

// Shared steps of the run scenarios (run-faults, the run-latency bench): a local git
// repository, `stackyard up` or separate server/launcher processes, stacks created over
// GraphQL with hooks, and bounded waits on a run's history and logs.

export const TERRAFORM_DATA_TF = `
resource "terraform_data" "marker" {
  input = "v1"
}
output "marker" {
  value = terraform_data.marker.output
}
`;

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  });
}

/** A git repository on branch main with one commit of `files` (paths may have folders). */
export async function gitRepo(
  files: Record<string, string> = { "main.tf": TERRAFORM_DATA_TF },
): Promise<string> {
  const repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-repo-"));
  git(repo, "init", "-q", "-b", "main");
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(repo, name)), { recursive: true });
    await writeFile(path.join(repo, name), text);
  }
  git(repo, "add", ".");
  git(repo, "commit", "-q", "-m", "init");
  return repo;
}

/** True when something accepts TCP connections on host:port within a second. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export interface Stackyard {
  base: string;
  port: number;
  mqttPort: number;
  dataDir: string;
  proc: CliProcess;
  client: ApiClient;
  /** SIGINT, then waits (bounded) for the exit. */
  stop(): Promise<void>;
}

/** Starts `stackyard up` on a fresh (or given) data directory and waits for its banner. */
export async function startUp(
  env: Record<string, string | undefined> = {},
  opts: { dataDir?: string; port?: number; mqttPort?: number } = {},
): Promise<Stackyard> {
  const dataDir =
    opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "stackyard-e2e-")));
  const port = opts.port ?? (await freePort());
  const mqttPort = opts.mqttPort ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  const proc = runCli(
    [
      "up",
      "--data-dir",
      dataDir,
      "--port",
      String(port),
      "--mqtt-port",
      String(mqttPort),
    ],
    {
      DATABASE_URL: undefined,
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      STACKYARD_LOG_LEVEL: "warn",
      ...env,
    },
  );
  try {
    await waitFor(
      "the banner of stackyard up",
      async () => {
        if (proc.child.exitCode !== null)
          throw new Error(`up exited: ${proc.output()}`);
        return proc.output().includes("Stackyard is running at");
      },
      120_000,
    );
  } catch (err) {
    proc.child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${proc.output()}`);
  }
  return {
    base,
    port,
    mqttPort,
    dataDir,
    proc,
    client: await adminClient(base, dataDir),
    stop: () => stopProcess(proc),
  };
}

/** SIGINT (SIGKILL after 20 s) and waits for the exit. */
export async function stopProcess(proc: CliProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill("SIGINT");
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 20_000);
  await proc.exited;
  clearTimeout(timer);
}

/** A GraphQL client logged in with the admin API key `up` saved in the data directory. */
export async function adminClient(
  base: string,
  dataDir: string,
): Promise<ApiClient> {
  const key = JSON.parse(
    await readFile(path.join(dataDir, "admin-api-key.json"), "utf8"),
  ) as { id: string; secret: string };
  return createClient({
    endpoint: base,
    apiKeyId: key.id,
    apiKeySecret: key.secret,
  });
}

/** The local launcher's pool token and private key, as `up` saved them. */
export async function localLauncherCredentials(
  dataDir: string,
): Promise<{ poolId: string; token: string; poolPrivateKey: string }> {
  return JSON.parse(
    await readFile(path.join(dataDir, "local-launcher.json"), "utf8"),
  ) as { poolId: string; token: string; poolPrivateKey: string };
}

const STACK_CREATE = `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`;

/** Creates an OpenTofu stack on `repository` (branch main); returns its id. */
export async function createStack(
  client: ApiClient,
  input: {
    name: string;
    repository: string;
    autodeploy?: boolean;
    beforePlan?: string[];
  },
): Promise<string> {
  const data = await client.request<{ stackCreate: { id: string } }>(
    STACK_CREATE,
    {
      input: {
        name: input.name,
        repository: input.repository,
        branch: "main",
        autodeploy: input.autodeploy ?? false,
        autoretry: false,
        administrative: false,
        provider: "GIT",
        beforePlan: input.beforePlan ?? [],
        vendorConfig: {
          terraform: { workflowTool: "OPEN_TOFU", version: null },
        },
      },
    },
  );
  return data.stackCreate.id;
}

export async function triggerRun(
  client: ApiClient,
  stack: string,
  type: "TRACKED" | "PROPOSED" = "TRACKED",
): Promise<string> {
  const data = await client.request<RunTriggerResult>(RUN_TRIGGER, {
    stack,
    type,
  });
  return data.runTrigger.id;
}

/** The run's history, oldest first. */
export async function runHistory(
  client: ApiClient,
  stack: string,
  run: string,
): Promise<RunTransition[]> {
  const data = await client.request<RunHistoryResult>(RUN_HISTORY, {
    stack,
    run,
  });
  const history = data.stack?.run?.history;
  if (!history) throw new Error(`run ${run} of stack ${stack} not found`);
  return [...history].reverse();
}

/** Polls the run until its newest state is one of `states`; returns the history (oldest first). */
export async function waitForRunState(
  client: ApiClient,
  stack: string,
  run: string,
  states: readonly string[],
  ms = 90_000,
): Promise<RunTransition[]> {
  let last = "";
  try {
    return await waitFor(
      `run ${run} to reach ${states.join("|")}`,
      async () => {
        const history = await runHistory(client, stack, run);
        const now = history.at(-1);
        last = now ? `${now.state}${now.note ? ` (${now.note})` : ""}` : "";
        return now && states.includes(now.state) ? history : null;
      },
      ms,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last state: ${last}`);
  }
}

/**
 * Every log message of a run, state by state (oldest first), read page by page over
 * GraphQL until each state's logs are `finished`. Bounded: at most `maxPages` pages.
 */
export async function readRunLogs(
  client: ApiClient,
  stack: string,
  run: string,
  maxPages = 500,
): Promise<string> {
  let text = "";
  let pages = 0;
  for (const t of await runHistory(client, stack, run)) {
    if (!t.hasLogs) continue;
    let token: string | null = null;
    for (;;) {
      if (++pages > maxPages)
        throw new Error(`more than ${maxPages} log pages`);
      const data: RunLogsResult = await client.request<RunLogsResult>(
        RUN_LOGS,
        { stack, run, state: t.state, stateVersion: t.stateVersion, token },
      );
      const page = data.stack?.run?.logs;
      if (!page) break;
      for (const m of page.messages) text += m.message;
      token = page.nextToken;
      if (page.finished || !page.hasMore || token === null) break;
    }
  }
  return text;
}

/** Pids of `stackyard launcher` processes whose environment contains `envNeedle`. */
export function launcherPids(envNeedle: string): number[] {
  return processesWithEnv(envNeedle).filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return argv.includes("launcher") && argv.some((a) => a.endsWith(".js"));
    } catch {
      return false;
    }
  });
}
