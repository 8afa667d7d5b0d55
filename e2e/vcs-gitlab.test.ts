import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startFakeGitlab,
  type FakeGitlab,
} from "../apps/server/test/fakes/fake-gitlab.ts";
import {
  GITLAB_EVENTS,
  gitlabDelivery,
  gitlabPushPayload,
} from "../apps/server/test/fixtures/vcs/index.ts";
import { waitFor } from "./harness.ts";
import {
  git,
  gitRepo,
  startUp,
  waitForRunState,
  type Stackyard,
} from "./run-kit.ts";

// A GitLab integration end to end: `stackyard up` with a launcher running real OpenTofu,
// a fake GitLab API (v4 wire format, PRIVATE-TOKEN) and a bare repository in a local
// directory standing in for the GitLab instance. The push hook carries the secret token.

const SECRET = "e2e-gitlab-webhook-token";
const PROJECT = "platform/networking";
const tf = (input: string) => `
resource "terraform_data" "marker" {
  input = "${input}"
}
`;

describe("a GitLab integration", () => {
  let sy: Stackyard;
  let gitlab: FakeGitlab;
  let work: string;
  let stackId: string;

  beforeAll(async () => {
    gitlab = await startFakeGitlab();
    gitlab.addProject(PROJECT);

    const gitRoot = await mkdtemp(path.join(os.tmpdir(), "stackyard-gitlab-"));
    const bare = path.join(gitRoot, "platform", "networking.git");
    await mkdir(bare, { recursive: true });
    git(bare, "init", "-q", "--bare", "-b", "main");
    work = await gitRepo({ "main.tf": tf("v1") });
    git(work, "remote", "add", "origin", bare);
    git(work, "push", "-q", "origin", "main");

    // The fake provider listens on loopback, which the egress guard refuses by default.
    sy = await startUp({ STACKYARD_EGRESS_ALLOW: "127.0.0.0/8,::1/128" });
    const created = await sy.client.request<{
      stackyardVcsIntegrationCreate: { id: string };
    }>(
      `mutation($input: StackyardVcsIntegrationCreateInput!) {
        stackyardVcsIntegrationCreate(input: $input) { id }
      }`,
      {
        input: {
          name: "gitlab-e2e",
          provider: "GITLAB",
          apiUrl: gitlab.url,
          // Clones come from the directory of bare repositories standing in for gitlab.com.
          gitUrl: pathToFileURL(gitRoot).href,
          token: gitlab.token,
          webhookSecret: SECRET,
        },
      },
    );
    const stack = await sy.client.request<{ stackCreate: { id: string } }>(
      `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`,
      {
        input: {
          name: "gitlab-networking",
          provider: "GITLAB",
          namespace: "platform",
          // No repositoryURL: the run clones through the integration's git URL.
          repository: "networking",
          vcsIntegrationId: created.stackyardVcsIntegrationCreate.id,
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
    await gitlab?.close();
  });

  it("applies a tracked run for a push hook and reports running, then success", async () => {
    const before = git(work, "rev-parse", "HEAD").trim();
    await writeFile(path.join(work, "main.tf"), tf("v2"));
    git(work, "commit", "-q", "-am", "marker v2");
    git(work, "push", "-q", "origin", "main");
    const after = git(work, "rev-parse", "HEAD").trim();

    const forged = gitlabDelivery({
      token: "not-the-token",
      event: GITLAB_EVENTS.push,
      payload: gitlabPushPayload({ path: PROJECT, before, after }),
    });
    const refused = await fetch(`${sy.base}/webhooks/gitlab-e2e`, {
      method: "POST",
      headers: forged.headers,
      body: forged.body,
    });
    expect(refused.status).toBe(401);

    const d = gitlabDelivery({
      token: SECRET,
      event: GITLAB_EVENTS.push,
      payload: gitlabPushPayload({
        path: PROJECT,
        before,
        after,
        message: "marker v2",
        files: { modified: ["main.tf"] },
      }),
    });
    const res = await fetch(`${sy.base}/webhooks/gitlab-e2e`, {
      method: "POST",
      headers: d.headers,
      body: d.body,
    });
    expect(res.status).toBe(202);

    const run = await waitFor(
      "a tracked run on the pushed commit",
      async () => {
        const data = await sy.client.request<{
          stack: {
            runs: Array<{ id: string; type: string; commit: { hash: string } }>;
          } | null;
        }>(`query($id: ID!){stack(id: $id){runs{id type commit{hash}}}}`, {
          id: stackId,
        });
        return data.stack?.runs.find(
          (r) => r.type === "TRACKED" && r.commit.hash === after,
        );
      },
      60_000,
    );
    const history = await waitForRunState(
      sy.client,
      stackId,
      run.id,
      ["FINISHED", "FAILED"],
      240_000,
    );
    expect(history.at(-1)?.state).toBe("FINISHED");

    const statuses = await waitFor(
      "the final commit status",
      async () => {
        const list = gitlab
          .statuses(PROJECT, after)
          .filter((s) => s.name === `stackyard/${stackId}`);
        return list.at(-1)?.status === "success" ? list : null;
      },
      60_000,
    );
    // GitLab shows a run in progress as "running"; repeated progress reports collapse.
    expect(statuses.map((s) => s.status)).toEqual(["running", "success"]);
    expect(statuses.at(-1)?.description).toBe("Tracked run: Finished");
    expect(statuses.at(-1)?.target_url).toContain(`/run/${run.id}`);
  }, 360_000);
});
