import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startFakeGithub,
  type FakeGithub,
} from "../apps/server/test/fakes/fake-github.ts";
import {
  githubDelivery,
  githubPullRequestPayload,
  githubPushPayload,
  signGithubBody,
  type WebhookDelivery,
} from "../apps/server/test/fixtures/vcs/index.ts";
import { waitFor } from "./harness.ts";
import {
  git,
  gitRepo,
  startUp,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// A GitHub App integration end to end: `stackyard up` with a launcher running real
// OpenTofu, a fake GitHub API speaking the REST wire format (App JWT, installation
// tokens, statuses, comments) and bare git repositories in a local directory standing
// in for github.com. Webhooks are signed for real with the integration's secret.

const SECRET = "e2e-github-webhook-secret";
const REPO = "acme/infra";
const tf = (input: string) => `
resource "terraform_data" "marker" {
  input = "${input}"
}
`;

interface RunSummary {
  id: string;
  type: string;
  state: string;
  commit: { hash: string };
}

describe("a GitHub App integration", () => {
  let sy: Stackyard;
  let github: FakeGithub;
  let work: string;
  let stackId: string;
  let integrationName: string;
  const forgedSha = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0";

  beforeAll(async () => {
    github = await startFakeGithub();
    github.install("acme");

    // "github.com": a directory of bare repositories <owner>/<repo>.git.
    const gitRoot = await mkdtemp(path.join(os.tmpdir(), "stackyard-github-"));
    const bare = path.join(gitRoot, "acme", "infra.git");
    await mkdir(bare, { recursive: true });
    git(bare, "init", "-q", "--bare", "-b", "main");
    work = await gitRepo({ "main.tf": tf("v1") });
    git(work, "remote", "add", "origin", bare);
    git(work, "push", "-q", "origin", "main");

    // The fake provider listens on loopback, which the egress guard refuses by default.
    sy = await startUp({ STACKYARD_EGRESS_ALLOW: "127.0.0.0/8,::1/128" });
    integrationName = "github-e2e";
    const created = await sy.client.request<{
      stackyardVcsIntegrationCreate: { id: string; webhookUrl: string };
    }>(
      `mutation($input: StackyardVcsIntegrationCreateInput!) {
        stackyardVcsIntegrationCreate(input: $input) { id webhookUrl }
      }`,
      {
        input: {
          name: integrationName,
          provider: "GITHUB",
          apiUrl: github.url,
          // Clones come from the directory of bare repositories standing in for github.com.
          gitUrl: pathToFileURL(gitRoot).href,
          appId: github.app.id,
          privateKey: github.app.privateKeyPem,
          webhookSecret: SECRET,
        },
      },
    );
    const integrationId = created.stackyardVcsIntegrationCreate.id;

    const stack = await sy.client.request<{ stackCreate: { id: string } }>(
      `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`,
      {
        input: {
          name: "github-networking",
          provider: "GITHUB",
          namespace: "acme",
          // No repositoryURL: the run clones through the integration's git URL.
          repository: "infra",
          vcsIntegrationId: integrationId,
          branch: "main",
          autodeploy: true,
          autoretry: false,
          administrative: false,
          vendorConfig: {
            terraform: { workflowTool: "OPEN_TOFU", version: null },
          },
        },
      },
    );
    stackId = stack.stackCreate.id;
  }, 240_000);

  afterAll(async () => {
    await sy?.stop();
    await github?.close();
  });

  const deliver = (d: WebhookDelivery) =>
    fetch(`${sy.base}/webhooks/${integrationName}`, {
      method: "POST",
      headers: d.headers,
      body: d.body,
    });

  /** The stack's tracked and proposed runs. */
  async function runs(): Promise<RunSummary[]> {
    const data = await sy.client.request<{
      stack: { runs: RunSummary[]; proposedRuns: RunSummary[] } | null;
    }>(
      `query($id: ID!){stack(id: $id){
        runs{id type state commit{hash}}
        proposedRuns{id type state commit{hash}}
      }}`,
      { id: stackId },
    );
    return [...(data.stack?.runs ?? []), ...(data.stack?.proposedRuns ?? [])];
  }

  /** Waits for a run, naming the stack's VCS events (and what each did) on a timeout. */
  async function waitForRun(what: string, match: (r: RunSummary) => boolean) {
    try {
      return await waitFor(
        what,
        async () => (await runs()).find(match),
        60_000,
      );
    } catch (err) {
      const events = await sy.client.request<{ stackyardVcsEvents: unknown[] }>(
        `query($stack: ID!){stackyardVcsEvents(stack: $stack){kind sha pullRequest outcome reason}}`,
        { stack: stackId },
      );
      throw new Error(
        `${(err as Error).message}; VCS events: ${JSON.stringify(events.stackyardVcsEvents)}`,
      );
    }
  }

  /** Commits `main.tf` with `input` on `branch` and pushes it; returns [before, after]. */
  async function pushCommit(branch: string, input: string) {
    const before = git(work, "rev-parse", "HEAD").trim();
    if (branch !== "main") git(work, "checkout", "-q", "-B", branch);
    await writeFile(path.join(work, "main.tf"), tf(input));
    git(work, "commit", "-q", "-am", `marker ${input}`);
    git(work, "push", "-q", "origin", branch);
    const after = git(work, "rev-parse", "HEAD").trim();
    if (branch !== "main") git(work, "checkout", "-q", "main");
    return [before, after] as const;
  }

  it("refuses a push webhook with a forged signature and creates no run", async () => {
    const d = githubDelivery({
      secret: SECRET,
      event: "push",
      payload: githubPushPayload({ repository: REPO, after: forgedSha }),
    });
    d.headers["x-hub-signature-256"] = signGithubBody("guessed", d.body);
    const res = await deliver(d);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(
      expect.objectContaining({
        message: "X-Hub-Signature-256 does not match the webhook secret",
      }),
    );
  });

  it("applies a tracked run for a signed push and reports pending, then success", async () => {
    const [before, after] = await pushCommit("main", "v2");
    // GitHub fails the first status call: the queue retries it, nothing is lost.
    github.failNext("statuses", 1, 502);
    const res = await deliver(
      githubDelivery({
        secret: SECRET,
        event: "push",
        payload: githubPushPayload({
          repository: REPO,
          before,
          after,
          message: "marker v2",
          files: { modified: ["main.tf"] },
        }),
      }),
    );
    expect(res.status).toBe(202);

    const run = await waitForRun(
      "a tracked run on the pushed commit",
      (r) => r.type === "TRACKED" && r.commit.hash === after,
    );
    const history = await waitForRunState(
      sy.client,
      stackId,
      run.id,
      ["FINISHED", "FAILED"],
      240_000,
    );
    expect(history.map((t) => t.state)).toContain("APPLYING");
    expect(history.at(-1)?.state).toBe("FINISHED");

    const statuses = await waitFor(
      "the final commit status",
      async () => {
        const list = github
          .statuses(REPO, after)
          .filter((s) => s.context === `stackyard/${stackId}`);
        return list.at(-1)?.state === "success" ? list : null;
      },
      60_000,
    );
    expect(statuses.at(-1)?.description).toBe("Tracked run: Finished");
    const statusCalls = github.requests.filter(
      (r) =>
        r.method === "POST" && r.path === `/repos/${REPO}/statuses/${after}`,
    );
    // The endpoint received pending first (answered 502), then the queue's retry. A
    // retry reports the run's state at that moment, never an older one, so when the
    // run finished before the retry, the stored statuses go straight to success.
    expect((statusCalls[0]?.body as { state?: string }).state).toBe("pending");
    expect(statusCalls.length).toBe(statuses.length + 1);
    expect(statuses.at(-1)?.target_url).toContain(`/run/${run.id}`);
  }, 360_000);

  it("plans a proposed run for a pull request and comments the plan on it", async () => {
    const [, head] = await pushCommit("grow", "v3");
    const res = await deliver(
      githubDelivery({
        secret: SECRET,
        event: "pull_request",
        payload: githubPullRequestPayload({
          repository: REPO,
          number: 42,
          headSha: head,
          headRef: "grow",
          title: "Grow the marker",
        }),
      }),
    );
    expect(res.status).toBe(202);

    const run = await waitForRun(
      "a proposed run on the pull request head",
      (r) => r.type === "PROPOSED" && r.commit.hash === head,
    );
    const history = await waitForRunState(
      sy.client,
      stackId,
      run.id,
      ["FINISHED", "FAILED"],
      240_000,
    );
    expect(history.at(-1)?.state).toBe("FINISHED");

    const comment = await waitFor(
      "the plan comment on the pull request",
      async () => github.comments(REPO, 42)[0],
      60_000,
    );
    expect(comment.user.type).toBe("Bot");
    expect(comment.body).toContain(`<!-- stackyard:plan:${stackId} -->`);
    // The marker's input changes in place: one update, as OpenTofu planned it.
    expect(comment.body).toContain(
      "Plan: 0 to add, 1 to change, 0 to destroy.",
    );
    expect(comment.body).toContain("| `terraform_data.marker` | update |");
    const proposed = github
      .statuses(REPO, head)
      .filter((s) => s.context === `stackyard/${stackId}`);
    expect(proposed[0]?.state).toBe("pending");
  }, 360_000);

  it("never ran the forged commit", async () => {
    expect((await runs()).some((r) => r.commit.hash === forgedSha)).toBe(false);
    expect(github.statuses(REPO, forgedSha)).toEqual([]);
  });
});
