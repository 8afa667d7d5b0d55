import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliAgainst } from "./confirm-apply-flow.ts";
import { graphql, waitFor } from "./harness.ts";
import { git, startUp, waitForRunState, type Stackyard } from "./run-kit.ts";

// Raw git polling end to end: `stackyard up` polling every second, an autodeploy stack
// on a local repository with project root `infra`. A commit under `infra` is found by the
// poller and applied by a tracked run (a new state version); a commit outside it is
// ignored, and the stack's VCS events say why.

const tf = (input: string) => `
resource "terraform_data" "marker" {
  input = "${input}"
}
output "marker" {
  value = terraform_data.marker.output
}
`;

const STACK_CREATE = `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`;
const VCS_EVENTS = `query($stack: ID!){stackyardVcsEvents(stack: $stack){id source kind sha branch outcome runId reason}}`;

interface VcsEvent {
  id: string;
  source: string;
  kind: string;
  sha: string | null;
  branch: string | null;
  outcome: string;
  runId: string | null;
  reason: string;
}

describe("raw git polling on stackyard up", () => {
  let sy: Stackyard;
  let repo: string;
  let stackId: string;
  let jwt: string;

  const events = async () =>
    (
      await sy.client.request<{ stackyardVcsEvents: VcsEvent[] }>(VCS_EVENTS, {
        stack: stackId,
      })
    ).stackyardVcsEvents;

  async function commitFile(file: string, text: string, message: string) {
    await mkdir(path.dirname(path.join(repo, file)), { recursive: true });
    await writeFile(path.join(repo, file), text);
    git(repo, "add", ".");
    git(repo, "commit", "-q", "-m", message);
    return git(repo, "rev-parse", "HEAD").trim();
  }

  async function stateVersions(): Promise<unknown[]> {
    const res = await fetch(
      `${sy.base}/api/v1/stacks/${stackId}/state/versions`,
      { headers: { authorization: `Bearer ${jwt}` } },
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { versions: unknown[] }).versions;
  }

  beforeAll(async () => {
    sy = await startUp({ STACKYARD_VCS_POLL_INTERVAL_SECONDS: "1" });
    const key = JSON.parse(
      await readFile(path.join(sy.dataDir, "admin-api-key.json"), "utf8"),
    ) as { id: string; secret: string };
    const login = await graphql<{ apiKeyUser: { jwt: string } }>(
      sy.base,
      "mutation($id: ID!, $secret: String!){apiKeyUser(id: $id, secret: $secret){jwt}}",
      { id: key.id, secret: key.secret },
    );
    jwt = login.data?.apiKeyUser.jwt ?? "";
    expect(jwt).not.toBe("");

    repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-vcs-repo-"));
    git(repo, "init", "-q", "-b", "main");
    await commitFile("README.md", "# demo\n", "readme");
    await commitFile("infra/main.tf", tf("v1"), "init");
  }, 180_000);

  afterAll(async () => {
    await sy?.stop();
  });

  it("applies a commit under the project root found by polling, and ignores one outside it with the reason", async () => {
    const created = await sy.client.request<{ stackCreate: { id: string } }>(
      STACK_CREATE,
      {
        input: {
          name: "Polled infra",
          repository: repo,
          branch: "main",
          projectRoot: "infra",
          autodeploy: true,
          autoretry: false,
          administrative: false,
          provider: "GIT",
          vendorConfig: {
            terraform: { workflowTool: "OPEN_TOFU", version: null },
          },
        },
      },
    );
    stackId = created.stackCreate.id;

    // The first poll records where polling starts; nothing runs.
    const first = await waitFor("the first poll of the stack", async () =>
      (await events()).find((e) => e.reason.includes("first poll")),
    );
    expect(first).toMatchObject({
      source: "POLL",
      outcome: "IGNORED",
      runId: null,
    });
    expect(await stateVersions()).toHaveLength(0);

    const inside = await commitFile(
      "infra/main.tf",
      tf("v2"),
      "Bump the marker",
    );
    const tracked = await waitFor(
      "a tracked run for the new commit",
      async () =>
        (await events()).find(
          (e) => e.sha === inside && e.outcome === "TRACKED",
        ),
    );
    expect(tracked.reason).toContain("infra/main.tf");
    expect(tracked.runId).toMatch(/^run_/);
    const history = await waitForRunState(
      sy.client,
      stackId,
      tracked.runId ?? "",
      ["FINISHED", "FAILED"],
      240_000,
    );
    expect(history.at(-1)?.state).toBe("FINISHED");
    expect(history.map((t) => t.state)).toContain("APPLYING");
    expect(await stateVersions()).toHaveLength(1);

    const outside = await commitFile("README.md", "# docs only\n", "Docs");
    const ignored = await waitFor("the docs commit to be ignored", async () =>
      (await events()).find((e) => e.sha === outside),
    );
    expect(ignored).toMatchObject({
      outcome: "IGNORED",
      runId: null,
      branch: "main",
    });
    expect(ignored.reason).toBe(
      'no changed file (README.md) is under project root "infra"',
    );
    const runs = await sy.client.request<{
      stack: { runs: { id: string }[] };
    }>(`query($id: ID!){stack(id: $id){runs{id}}}`, { id: stackId });
    expect(runs.stack.runs.map((r) => r.id)).toEqual([tracked.runId]);

    // The same story from the CLI, newest first.
    const cli = await cliAgainst(
      { base: sy.base, port: sy.port, dataDir: sy.dataDir },
      ["vcs", "events", stackId],
    );
    expect(cli.code, cli.out).toBe(0);
    const lines = cli.out.trim().split("\n");
    expect(lines[0]).toContain(
      `IGNORED: no changed file (README.md) is under project root "infra"`,
    );
    expect(lines[1]).toContain(`TRACKED ${tracked.runId}`);
  }, 360_000);
});
