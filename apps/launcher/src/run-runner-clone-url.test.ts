import { generateKeyPairSync } from "node:crypto";
import { seal, type RunAssignSpec } from "@stackyard/protocol";
import { describe, expect, it } from "vitest";
import { runSecrets } from "./executor/run-env.ts";
import { openSpec } from "./run-runner.ts";

const pool = generateKeyPairSync("rsa", { modulusLength: 2048 });
const TOKEN = "ghs_sealedCloneToken123";
const CLONE_URL = `https://x-access-token:${TOKEN}@github.example.com/acme/infra.git`;

function spec(repository: RunAssignSpec["repository"]): RunAssignSpec {
  return {
    runId: "run_1",
    stackId: "stk_1",
    runType: "TRACKED",
    phase: "plan",
    repository,
    projectRoot: "",
    tool: { kind: "tofu", version: null },
    environment: [],
    mountedFiles: [],
    hooks: {},
    stateBackend: null,
    command: null,
    skipInit: false,
    computed: {},
  };
}

describe("openSpec and clone URLs", () => {
  it("clones from the sealed clone URL, and masks its token in logs", () => {
    const opened = openSpec(
      spec({
        url: "https://github.example.com/acme/infra.git",
        commitSha: null,
        branch: "main",
        cloneUrl: { sealed: true, value: seal(pool.publicKey, CLONE_URL) },
      }),
      pool.privateKey,
    );
    expect(opened.repository).toEqual({
      url: CLONE_URL,
      commitSha: null,
      branch: "main",
    });
    expect(runSecrets(opened)).toContain(TOKEN);
  });

  it("clones the plain URL when no clone URL is given", () => {
    const opened = openSpec(
      spec({ url: "/srv/git/infra", commitSha: "abc1234", branch: "main" }),
      pool.privateKey,
    );
    expect(opened.repository).toEqual({
      url: "/srv/git/infra",
      commitSha: "abc1234",
      branch: "main",
    });
  });

  it("names the clone URL, never its content, when its box does not open", () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(() =>
      openSpec(
        spec({
          url: "https://github.example.com/acme/infra.git",
          commitSha: null,
          branch: "main",
          cloneUrl: { sealed: true, value: seal(other.publicKey, CLONE_URL) },
        }),
        pool.privateKey,
      ),
    ).toThrow(/^repository clone URL: /);
  });
});
