import path from "node:path";
import type { RunDirectory } from "../workspace/workspace.ts";
import type { RunSpec } from "./run-spec.ts";

/** Phases whose credentials may change infrastructure: they get `wo_` variables, not `ro_`. */
const WRITE_PHASES: ReadonlySet<RunSpec["phase"]> = new Set([
  "apply",
  "destroy",
]);

export interface RunEnvInput {
  spec: RunSpec;
  dirs: RunDirectory;
  binDir: string;
  /** The launcher host's PATH, after binDir. */
  hostPath: string;
  /** The checked-out commit (the spec's, or the branch head). */
  commitSha: string;
}

/**
 * The complete environment of every run process. Nothing of the launcher's own
 * environment leaks in except `hostPath`. Later layers win:
 * 1. base: PATH, HOME/TMPDIR inside the run directory, TF_IN_AUTOMATION, TF_INPUT=0,
 *    an empty TF_CLI_CONFIG_FILE (no host credentials, mirrors or plugin cache);
 * 2. the stack's variables (`ro_`/`wo_` filtered by phase, prefix stripped);
 * 3. computed variables, as STACKYARD_* and Spacelift's TF_VAR_spacelift_*;
 * 4. the server's `spec.computed`;
 * 5. TF_HTTP_* for the state backend, so its credentials are never written to a file
 *    (`-backend-config` values would be persisted in `.terraform/terraform.tfstate`),
 *    with retries (1 s doubling to 5 s, 30 times: about 2 min, the worker API's
 *    budget) so a server restart mid-run does not fail the tool; the backend's default
 *    of 2 retries gives up within seconds.
 */
export function buildRunEnv(input: RunEnvInput): Record<string, string> {
  const { spec, dirs } = input;
  const env: Record<string, string> = {
    PATH: [input.binDir, input.hostPath].filter(Boolean).join(path.delimiter),
    HOME: dirs.homeDir,
    TMPDIR: dirs.tmpDir,
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    TF_CLI_CONFIG_FILE: dirs.cliConfigFile,
    CHECKPOINT_DISABLE: "1",
    GIT_TERMINAL_PROMPT: "0",
  };

  const writePhase = WRITE_PHASES.has(spec.phase);
  for (const { name, value } of spec.environment) {
    if (name.startsWith("ro_")) {
      if (!writePhase) env[name.slice(3)] = value;
    } else if (name.startsWith("wo_")) {
      if (writePhase) env[name.slice(3)] = value;
    } else {
      env[name] = value;
    }
  }

  const computed: Record<string, string> = {
    STACKYARD_RUN_ID: spec.runId,
    STACKYARD_STACK_ID: spec.stackId,
    STACKYARD_COMMIT_SHA: input.commitSha,
    STACKYARD_RUN_TYPE: spec.runType,
    TF_VAR_spacelift_run_id: spec.runId,
    TF_VAR_spacelift_stack_id: spec.stackId,
    TF_VAR_spacelift_commit_sha: input.commitSha,
    TF_VAR_spacelift_commit_branch: spec.repository.branch,
    TF_VAR_spacelift_run_type: spec.runType,
    TF_VAR_spacelift_workspace_root: dirs.workspaceRoot,
    TF_VAR_spacelift_project_root: spec.projectRoot,
  };
  Object.assign(env, computed, spec.computed);

  if (spec.stateBackend) {
    const { address, username, password } = spec.stateBackend;
    Object.assign(env, {
      TF_HTTP_ADDRESS: address,
      TF_HTTP_LOCK_ADDRESS: address,
      TF_HTTP_UNLOCK_ADDRESS: address,
      TF_HTTP_USERNAME: username,
      TF_HTTP_PASSWORD: password,
      TF_HTTP_RETRY_MAX: "30",
      TF_HTTP_RETRY_WAIT_MIN: "1",
      TF_HTTP_RETRY_WAIT_MAX: "5",
    });
  }
  return env;
}

/** Minimum length of a secret file line worth masking; shorter ones are syntax (`}`). */
const MIN_FILE_LINE_SECRET = 4;

/**
 * Everything the logs must not show: secret variable values, the state backend
 * password, the repository URL's password, and each line of secret mounted files.
 */
export function runSecrets(spec: RunSpec): string[] {
  const secrets = spec.environment.filter((v) => v.secret).map((v) => v.value);
  if (spec.stateBackend) secrets.push(spec.stateBackend.password);
  try {
    const url = new URL(spec.repository.url);
    if (url.password) secrets.push(decodeURIComponent(url.password));
  } catch {
    // a local path
  }
  for (const file of spec.mountedFiles) {
    if (!file.secret) continue;
    const text = Buffer.from(file.contentBase64, "base64").toString("utf8");
    for (const line of text.split(/\r?\n/))
      if (line.trim().length >= MIN_FILE_LINE_SECRET) secrets.push(line);
  }
  return secrets;
}
