import { describe, expect, it } from "vitest";
import type { RunDirectory } from "../workspace/workspace.ts";
import { buildRunEnv, runSecrets } from "./run-env.ts";
import { buildSpec } from "../../test/executor-support.ts";

const dirs: RunDirectory = {
  runDir: "/w/r",
  workspaceRoot: "/w/r/workspace",
  sourceDir: "/w/r/workspace/source",
  homeDir: "/w/r/home",
  tmpDir: "/w/r/tmp",
  cliConfigFile: "/w/r/home/cli.tfrc",
};

describe("buildRunEnv", () => {
  const environment = [
    { name: "ro_TOKEN", value: "read", secret: true },
    { name: "wo_TOKEN", value: "write", secret: true },
    { name: "STACKYARD_RUN_ID", value: "spoofed", secret: false },
    { name: "REGION", value: "eu", secret: false },
  ];
  const env = (phase: "plan" | "apply") =>
    buildRunEnv({
      spec: buildSpec({
        phase,
        environment,
        stateBackend: { address: "http://s/st", username: "u", password: "p" },
      }),
      dirs,
      binDir: "/bin-dir",
      hostPath: "/usr/bin",
      commitSha: "abc123",
    });

  it("passes ro_ variables to read phases and wo_ to apply, prefix stripped", () => {
    expect(env("plan").TOKEN).toBe("read");
    expect(env("apply").TOKEN).toBe("write");
    expect(env("plan")).not.toHaveProperty("ro_TOKEN");
  });

  it("sets the base, computed and backend variables, computed winning", () => {
    expect(env("plan")).toMatchObject({
      PATH: "/bin-dir:/usr/bin",
      HOME: "/w/r/home",
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      TF_CLI_CONFIG_FILE: "/w/r/home/cli.tfrc",
      REGION: "eu",
      STACKYARD_RUN_ID: "run_test",
      TF_VAR_spacelift_run_id: "run_test",
      TF_VAR_spacelift_commit_sha: "abc123",
      TF_VAR_spacelift_workspace_root: "/w/r/workspace",
      TF_VAR_spacelift_project_root: "",
      TF_HTTP_ADDRESS: "http://s/st",
      TF_HTTP_PASSWORD: "p",
      TF_HTTP_RETRY_MAX: "30",
    });
    expect(env("plan")).not.toHaveProperty("TF_PLUGIN_CACHE_DIR");
  });
});

describe("runSecrets", () => {
  it("collects secret values, the backend password, URL passwords and secret file lines", () => {
    const secrets = runSecrets(
      buildSpec({
        repository: {
          url: "https://x:url%2Fpw@git.example/r.git",
          commitSha: null,
          branch: "main",
        },
        environment: [
          { name: "A", value: "env-secret", secret: true },
          { name: "B", value: "plain", secret: false },
        ],
        stateBackend: {
          address: "http://s",
          username: "u",
          password: "backend-pw",
        },
        mountedFiles: [
          {
            relativePath: "k",
            contentBase64: Buffer.from("{\n  key-line\n}\n").toString("base64"),
            secret: true,
          },
        ],
      }),
    );
    expect(secrets).toEqual([
      "env-secret",
      "backend-pw",
      "url/pw",
      "  key-line",
    ]);
  });
});
