/** Helpers for executor and workspace tests: real git repositories and a recording run. */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { SETUP, skipWithout } from "@stackyard/server/test/tools";
import type {
  Executor,
  RunOptions,
  RunOutcome,
  RunSpec,
  RunStatePhase,
} from "../src/executor/run-spec.ts";
import { findExecutable } from "../src/executor/sandbox.ts";

export const TEST_BIN_DIR =
  process.env.STACKYARD_BIN_DIR ??
  path.join(homedir(), ".cache", "stackyard", "toolchain", "bin");

/** Whether OpenTofu is there; under CI a missing one fails instead (see skipWithout). */
export function hasTofu(): boolean {
  const tofu = path.join(TEST_BIN_DIR, "tofu");
  return !skipWithout(
    "OpenTofu",
    existsSync(tofu) ? null : `no tofu binary at ${tofu}`,
    SETUP.toolchain,
  );
}

/** Whether bubblewrap is on PATH; under CI a missing one fails instead. */
export function hasBubblewrap(): boolean {
  return !skipWithout(
    "bubblewrap",
    findExecutable("bwrap", process.env.PATH ?? "") === null
      ? "no bwrap on PATH"
      : null,
    SETUP.bubblewrap,
  );
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `stackyard-${prefix}-`));
}

/** A git repository in a temp dir; `commit` writes files and returns the new SHA. */
export function createTestRepo(): {
  dir: string;
  commit(files: Record<string, string>, message?: string): string;
} {
  const dir = tempDir("repo");
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
    }).trim();
  git("init", "--quiet", "--initial-branch=main");
  git("config", "user.email", "test@stackyard.invalid");
  git("config", "user.name", "Stackyard Test");
  return {
    dir,
    commit(files, message = "change") {
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        writeFileSync(path.join(dir, name), content);
      }
      git("add", "--all");
      git("commit", "--quiet", "-m", message);
      return git("rev-parse", "HEAD");
    },
  };
}

/** A config with one `terraform_data` whose input is a variable, and two outputs. */
export function mainTf(defaultName = "first"): string {
  return `variable "name" {
  type    = string
  default = "${defaultName}"
}

resource "terraform_data" "thing" {
  input = var.name
}

output "thing" {
  value = terraform_data.thing.output
}

output "greeting" {
  value = "hello \${var.name}"
}
`;
}

export function buildSpec(overrides: Partial<RunSpec> = {}): RunSpec {
  return {
    runId: "run_test",
    stackId: "stk_test",
    runType: "TRACKED",
    phase: "plan",
    repository: { url: "", commitSha: null, branch: "main" },
    projectRoot: "",
    tool: { kind: "tofu", version: null },
    environment: [],
    mountedFiles: [],
    hooks: {},
    stateBackend: null,
    command: null,
    skipInit: false,
    computed: {},
    ...overrides,
  };
}

export interface RecordedRun {
  outcome: RunOutcome;
  states: RunStatePhase[];
  logs: Array<{ state: RunStatePhase; line: string }>;
  text: string;
}

/** Runs a spec, recording states and log lines. */
export async function recordRun(
  executor: Executor,
  spec: RunSpec,
  opts: Partial<RunOptions> & { workDir: string },
  onLine?: (line: string) => void,
): Promise<RecordedRun> {
  const states: RunStatePhase[] = [];
  const logs: RecordedRun["logs"] = [];
  const outcome = await executor.run(
    spec,
    {
      onState: (s) => states.push(s),
      onLog: (state, line) => {
        logs.push({ state, line });
        onLine?.(line);
      },
    },
    {
      binDir: TEST_BIN_DIR,
      signal: new AbortController().signal,
      ...opts,
    },
  );
  return {
    outcome,
    states,
    logs,
    text: logs.map((l) => l.line).join("\n"),
  };
}
