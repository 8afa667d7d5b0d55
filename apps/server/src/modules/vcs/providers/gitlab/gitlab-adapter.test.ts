import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackEgress } from "../../../../../test/egress.ts";
import type { CommitStatus, VcsIntegration } from "../../provider.ts";
import { VcsInputError } from "../../vcs-errors.ts";
import {
  startFakeGitlab,
  type FakeGitlab,
} from "../../../../../test/fakes/fake-gitlab.ts";
import { VcsProviderApiError } from "../provider-errors.ts";
import { createGitlabAdapter } from "./gitlab-adapter.ts";

const PROJECT = "platform/networking/infra";
const SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
const MARKER = "<!-- stackyard:stack:vpc -->";
const status = (state: CommitStatus["state"], sha = SHA) =>
  [
    PROJECT,
    sha,
    {
      context: "stackyard/vpc",
      state,
      description: `Run is ${state}`,
      targetUrl: "https://stackyard.example.com/stack/vpc/run/01J",
    },
  ] as const;

let fake: FakeGitlab;
let integration: VcsIntegration;

beforeAll(async () => {
  fake = await startFakeGitlab();
  fake.addProject(PROJECT);
  integration = gitlabIntegration({});
});
afterAll(() => fake.close());

function gitlabIntegration(
  overrides: Partial<{ apiUrl: string; gitUrl: string; token: string }>,
): VcsIntegration {
  return {
    id: "vcs_gl",
    name: "gitlab",
    provider: "GITLAB",
    spaceId: "root",
    isDefault: false,
    labels: [],
    description: null,
    settings: {
      kind: "GITLAB",
      apiUrl: fake.url,
      gitUrl: "https://gitlab.example.com",
      token: fake.token,
      webhookSecret: "s",
      ...overrides,
    },
  };
}

async function apiError(p: Promise<unknown>): Promise<VcsProviderApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(VcsProviderApiError);
    return err as VcsProviderApiError;
  }
  throw new Error("expected the call to fail");
}

describe("GitLab commit statuses", () => {
  it("maps our states to GitLab's and posts them to the url-encoded project", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    const sha = "1111111111111111111111111111111111111111";
    await adapter.setCommitStatus(integration, ...status("pending", sha));
    await adapter.setCommitStatus(integration, ...status("success", sha));
    await adapter.setCommitStatus(integration, ...status("failure", sha));
    await adapter.setCommitStatus(
      integration,
      ...status("error", "2".repeat(40)),
    );
    expect(
      fake.statuses(PROJECT).map((s) => [s.sha.slice(0, 1), s.status]),
    ).toEqual([
      ["1", "running"],
      ["1", "success"],
      ["1", "failed"],
      ["2", "failed"],
    ]);
    expect(fake.statuses(PROJECT, sha)[0]).toEqual(
      expect.objectContaining({
        name: "stackyard/vpc",
        description: "Run is pending",
        target_url: "https://stackyard.example.com/stack/vpc/run/01J",
      }),
    );
    expect(
      fake.requests.some((r) =>
        r.path.includes("platform%2Fnetworking%2Finfra"),
      ),
    ).toBe(true);
  });

  it("treats a repeated report of the same state as done", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    const sha = "3".repeat(40);
    await adapter.setCommitStatus(integration, ...status("pending", sha));
    await adapter.setCommitStatus(integration, ...status("pending", sha));
    expect(fake.statuses(PROJECT, sha)).toHaveLength(1);
  });

  it("accepts an apiUrl that already ends in /api/v4", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    const sha = "4".repeat(40);
    await adapter.setCommitStatus(
      gitlabIntegration({ apiUrl: `${fake.url}/api/v4/` }),
      ...status("success", sha),
    );
    expect(fake.statuses(PROJECT, sha)).toHaveLength(1);
  });

  it("throws a retryable error on a 502 and succeeds when the queue tries again", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    const sha = "5".repeat(40);
    fake.failNext("statuses", 2, 502);
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await apiError(
        adapter.setCommitStatus(integration, ...status("pending", sha)),
      );
      expect([err.status, err.retryable]).toEqual([502, true]);
      expect(err.message).toBe(
        `GitLab POST /api/v4/projects/platform%2Fnetworking%2Finfra/statuses/${sha} answered 502: 502 Bad Gateway`,
      );
    }
    await adapter.setCommitStatus(integration, ...status("pending", sha));
    expect(fake.statuses(PROJECT, sha)).toHaveLength(1);
  });

  it("reports a refused token without retrying and without the token", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    const err = await apiError(
      adapter.setCommitStatus(
        gitlabIntegration({ token: "glpat-wrong-token-value" }),
        ...status("pending"),
      ),
    );
    expect([err.status, err.retryable]).toEqual([401, false]);
    expect(err.message).toContain("401 Unauthorized");
    expect(err.message).not.toContain("glpat-");
  });

  it("reports an unknown project as not retryable", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    const err = await apiError(
      adapter.setCommitStatus(
        integration,
        "platform/missing",
        SHA,
        status("success")[2],
      ),
    );
    expect([err.status, err.retryable]).toEqual([404, false]);
    expect(err.message).toContain("404 Project Not Found");
  });

  it("refuses a project path that could escape the API path", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    for (const bad of ["group/../x", "infra", "group//x", "group/x.git"])
      await expect(
        adapter.setCommitStatus(integration, bad, SHA, status("success")[2]),
        bad,
      ).rejects.toBeInstanceOf(VcsInputError);
  });
});

describe("GitLab merge request notes", () => {
  it("creates the note once and edits it in place afterwards", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      7,
      MARKER,
      "Plan: 1 to add",
    );
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      7,
      MARKER,
      "Plan: 3 to add",
    );
    const notes = fake.notes(PROJECT, 7);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.body).toBe(`${MARKER}\nPlan: 3 to add`);
    expect(notes[0]?.author.username).toBe("stackyard-bot");
  });

  it("leaves system notes and other people's notes carrying the marker alone", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    fake.addUserNote(PROJECT, 8, `quoted ${MARKER}`);
    fake.addUserNote(PROJECT, 8, `${MARKER} mentioned in commit`, true);
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      8,
      MARKER,
      "one",
    );
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      8,
      MARKER,
      "two",
    );
    expect(fake.notes(PROJECT, 8).map((n) => n.body)).toEqual([
      `quoted ${MARKER}`,
      `${MARKER} mentioned in commit`,
      `${MARKER}\ntwo`,
    ]);
  });

  it("finds its note past the first page of 100", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    for (let i = 0; i < 120; i++) fake.addUserNote(PROJECT, 9, `note ${i}`);
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      9,
      MARKER,
      "one",
    );
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      9,
      MARKER,
      "two",
    );
    const notes = fake.notes(PROJECT, 9);
    expect(notes).toHaveLength(121);
    expect(notes[120]?.body).toBe(`${MARKER}\ntwo`);
  });

  it("throws a retryable error on a 502 and upserts when tried again", async () => {
    const adapter = createGitlabAdapter({ fetch: loopbackEgress.fetch });
    fake.failNext("notes", 1, 502);
    const err = await apiError(
      adapter.upsertPullRequestComment(integration, PROJECT, 10, MARKER, "x"),
    );
    expect(err.retryable).toBe(true);
    await adapter.upsertPullRequestComment(
      integration,
      PROJECT,
      10,
      MARKER,
      "x",
    );
    expect(fake.notes(PROJECT, 10)).toHaveLength(1);
  });
});

describe("GitLab clone URLs", () => {
  it("carries the token as oauth2 credentials for an https git URL", async () => {
    const url = new URL(
      await createGitlabAdapter({ fetch: loopbackEgress.fetch }).cloneUrl(
        integration,
        PROJECT,
      ),
    );
    expect(url.origin).toBe("https://gitlab.example.com");
    expect(url.pathname).toBe(`/${PROJECT}.git`);
    expect(url.username).toBe("oauth2");
    expect(decodeURIComponent(url.password)).toBe(fake.token);
  });

  it("points into a file:// directory of bare repositories without credentials", async () => {
    const url = await createGitlabAdapter({
      fetch: loopbackEgress.fetch,
    }).cloneUrl(gitlabIntegration({ gitUrl: "file:///srv/git" }), PROJECT);
    expect(url).toBe(`file:///srv/git/${PROJECT}.git`);
  });
});
