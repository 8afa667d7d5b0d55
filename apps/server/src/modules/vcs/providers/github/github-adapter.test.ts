import { generateKeyPairSync } from "node:crypto";
import { loopbackEgress } from "../../../../../test/egress.ts";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { CommitStatus, VcsIntegration } from "../../provider.ts";
import { VcsInputError } from "../../vcs-errors.ts";
import {
  startFakeGithub,
  type FakeGithub,
} from "../../../../../test/fakes/fake-github.ts";
import {
  VcsProviderApiError,
  VcsProviderConfigurationError,
} from "../provider-errors.ts";
import { createGithubAdapter } from "./github-adapter.ts";

const SHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const MARKER = "<!-- stackyard:stack:networking -->";
const status: CommitStatus = {
  context: "stackyard/networking",
  state: "pending",
  description: "Planning",
  targetUrl: "https://stackyard.example.com/stack/networking/run/01J",
};

/** A clock shared by the adapter and the fake, moved by hand. */
let now = new Date("2026-11-23T12:00:00Z");
const clock = () => now;

let fake: FakeGithub;
let integration: VcsIntegration;
let counter = 0;

beforeAll(async () => {
  fake = await startFakeGithub({ clock });
  fake.install("acme");
});
afterAll(() => fake.close());

beforeEach(() => {
  // A new integration id per test: each starts with an empty token cache.
  integration = githubIntegration({});
});

function githubIntegration(
  overrides: Partial<{
    apiUrl: string;
    gitUrl: string;
    appId: string;
    privateKeyPem: string;
  }>,
): VcsIntegration {
  counter++;
  return {
    id: `vcs_gh_${counter}`,
    name: `github-${counter}`,
    provider: "GITHUB",
    spaceId: "root",
    isDefault: false,
    labels: [],
    description: null,
    settings: {
      kind: "GITHUB",
      apiUrl: fake.url,
      gitUrl: "https://github.example.com",
      appId: fake.app.id,
      privateKeyPem: fake.app.privateKeyPem,
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

describe("GitHub commit statuses", () => {
  it("creates a status as the App's installation, with GitHub's headers", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const before = fake.requests.length;
    await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
    expect(fake.statuses("acme/infra", SHA).at(-1)).toEqual(
      expect.objectContaining({
        state: "pending",
        context: "stackyard/networking",
        description: "Planning",
        target_url: status.targetUrl,
      }),
    );
    expect(fake.requests.slice(before)).toMatchObject([
      { method: "GET", path: "/repos/acme/infra/installation", auth: "jwt" },
      {
        method: "POST",
        path: expect.stringMatching(
          /^\/app\/installations\/\d+\/access_tokens$/,
        ),
        auth: "jwt",
      },
      {
        method: "POST",
        path: `/repos/acme/infra/statuses/${SHA}`,
        auth: "token",
      },
    ]);
  });

  it("cuts a description to GitHub's 140 characters", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    await adapter.setCommitStatus(integration, "acme/infra", SHA, {
      ...status,
      state: "failure",
      description: "x".repeat(300),
    });
    const posted = fake.statuses("acme/infra", SHA).at(-1);
    expect(posted?.state).toBe("failure");
    expect(posted?.description).toHaveLength(140);
    expect(posted?.description?.endsWith("…")).toBe(true);
  });

  it("throws a retryable error on a 502 and succeeds when the queue tries again", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const before = fake.statuses("acme/infra").length;
    fake.failNext("statuses", 2, 502);
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await apiError(
        adapter.setCommitStatus(integration, "acme/infra", SHA, status),
      );
      expect(err.status).toBe(502);
      expect(err.retryable).toBe(true);
      expect(err.message).toBe(
        `GitHub POST /repos/acme/infra/statuses/${SHA} answered 502: Server Error`,
      );
    }
    await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
    expect(fake.statuses("acme/infra").length).toBe(before + 1);
  });

  it("explains a repository the App is not installed on, not retryable", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const err = await apiError(
      adapter.setCommitStatus(integration, "elsewhere/infra", SHA, status),
    );
    expect(err.status).toBe(404);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(
      `the GitHub App ${fake.app.id} is not installed on elsewhere/infra`,
    );
  });

  it("refuses a repository name that could escape the API path", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    for (const bad of ["acme/../x", "acme", "acme/infra/extra", "acme/in fra"])
      await expect(
        adapter.setCommitStatus(integration, bad, SHA, status),
        bad,
      ).rejects.toBeInstanceOf(VcsInputError);
  });
});

describe("GitHub App installation tokens", () => {
  it("reuses a token until 5 minutes before it expires, then fetches a new one", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    fake.tokenTtlMs = 10 * 60_000;
    try {
      const issued = fake.tokensIssued;
      await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
      now = new Date(now.getTime() + 4 * 60_000);
      await adapter.setCommitStatus(integration, "acme/infra", SHA, {
        ...status,
        state: "success",
      });
      expect(fake.tokensIssued).toBe(issued + 1);

      now = new Date(now.getTime() + 2 * 60_000); // 6 minutes in: within the margin
      await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
      expect(fake.tokensIssued).toBe(issued + 2);
    } finally {
      fake.tokenTtlMs = 60 * 60_000;
    }
  });

  it("shares one token request between concurrent calls", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const issued = fake.tokensIssued;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        adapter.setCommitStatus(integration, "acme/infra", SHA, status),
      ),
    );
    expect(fake.tokensIssued).toBe(issued + 1);
  });

  it("drops a token GitHub refuses, so the retry authenticates afresh", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
    const issued = fake.tokensIssued;
    fake.revokeTokens();

    const err = await apiError(
      adapter.setCommitStatus(integration, "acme/infra", SHA, status),
    );
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("Bad credentials");
    expect(err.message).not.toMatch(/ghs_/);

    await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
    expect(fake.tokensIssued).toBe(issued + 1);
  });

  it("retries a token request that failed instead of caching the failure", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    fake.failNext("access_tokens", 1, 503);
    const err = await apiError(
      adapter.setCommitStatus(integration, "acme/infra", SHA, status),
    );
    expect([err.status, err.retryable]).toEqual([503, true]);
    await adapter.setCommitStatus(integration, "acme/infra", SHA, status);
  });

  it("reports a JWT GitHub refuses as a configuration problem, not retryable", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    const err = await apiError(
      adapter.setCommitStatus(
        githubIntegration({ privateKeyPem: otherKey }),
        "acme/infra",
        SHA,
        status,
      ),
    );
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("A JSON web token could not be decoded");
    expect(err.message).toContain(
      "check the integration's App id and private key",
    );
  });

  it("gets GitHub's answer to an expired JWT when the host clock is far behind", async () => {
    const behind = new Date(now.getTime() - 20 * 60_000);
    const adapter = createGithubAdapter({
      fetch: loopbackEgress.fetch,
      clock: () => behind,
    });
    const err = await apiError(
      adapter.setCommitStatus(integration, "acme/infra", SHA, status),
    );
    expect(err.message).toContain("'Expiration time' claim ('exp')");
  });

  it("refuses a private key that is not a PEM RSA key", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    await expect(
      adapter.setCommitStatus(
        githubIntegration({ privateKeyPem: "-----BEGIN NOTHING-----" }),
        "acme/infra",
        SHA,
        status,
      ),
    ).rejects.toBeInstanceOf(VcsProviderConfigurationError);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    await expect(
      adapter.setCommitStatus(
        githubIntegration({ privateKeyPem: ec }),
        "acme/infra",
        SHA,
        status,
      ),
    ).rejects.toThrow(/GitHub Apps use RSA keys/);
  });
});

describe("GitHub pull request comments", () => {
  it("creates the comment once and edits it in place afterwards", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      42,
      MARKER,
      "Plan: 1 to add",
    );
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      42,
      MARKER,
      "Plan: 2 to add",
    );
    const comments = fake.comments("acme/infra", 42);
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toBe(`${MARKER}\nPlan: 2 to add`);
    expect(comments[0]?.user.type).toBe("Bot");
  });

  it("keeps a marker the body already carries where it is", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const body = `Plan summary\n\n${MARKER}`;
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      43,
      MARKER,
      body,
    );
    expect(fake.comments("acme/infra", 43)[0]?.body).toBe(body);
  });

  it("leaves a person's comment quoting the marker alone", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    fake.addUserComment("acme/infra", 44, `Look: ${MARKER}`);
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      44,
      MARKER,
      "Plan",
    );
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      44,
      MARKER,
      "Plan v2",
    );
    expect(fake.comments("acme/infra", 44).map((c) => c.body)).toEqual([
      `Look: ${MARKER}`,
      `${MARKER}\nPlan v2`,
    ]);
  });

  it("finds its comment past the first page of 100", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    for (let i = 0; i < 130; i++)
      fake.addUserComment("acme/infra", 45, `comment ${i}`);
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      45,
      MARKER,
      "one",
    );
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      45,
      MARKER,
      "two",
    );
    const comments = fake.comments("acme/infra", 45);
    expect(comments).toHaveLength(131);
    expect(comments[130]?.body).toBe(`${MARKER}\ntwo`);
  });

  it("throws a retryable error on a 502 and upserts when tried again", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    fake.failNext("comments", 1, 502);
    const err = await apiError(
      adapter.upsertPullRequestComment(
        integration,
        "acme/infra",
        46,
        MARKER,
        "x",
      ),
    );
    expect(err.retryable).toBe(true);
    await adapter.upsertPullRequestComment(
      integration,
      "acme/infra",
      46,
      MARKER,
      "x",
    );
    expect(fake.comments("acme/infra", 46)).toHaveLength(1);
  });
});

describe("GitHub clone URLs", () => {
  it("carries an installation token for an https git URL", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const url = new URL(await adapter.cloneUrl(integration, "acme/infra"));
    expect(url.origin).toBe("https://github.example.com");
    expect(url.pathname).toBe("/acme/infra.git");
    expect(url.username).toBe("x-access-token");
    expect(url.password).toMatch(/^ghs_/);
  });

  it("points into a file:// directory of bare repositories without credentials", async () => {
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const before = fake.requests.length;
    const url = await adapter.cloneUrl(
      githubIntegration({ gitUrl: "file:///srv/git/" }),
      "acme/infra",
    );
    expect(url).toBe("file:///srv/git/acme/infra.git");
    expect(fake.requests.length).toBe(before);
  });
});

describe("GitHub API transport", () => {
  it("times out a silent server with a retryable error", async () => {
    const held: http.ServerResponse[] = [];
    const silent = http.createServer((_req, res) => held.push(res));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const adapter = createGithubAdapter({
        fetch: loopbackEgress.fetch,
        clock,
        timeoutMs: 200,
      });
      const err = await apiError(
        adapter.setCommitStatus(
          githubIntegration({
            apiUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
          }),
          "acme/infra",
          SHA,
          status,
        ),
      );
      expect([err.status, err.retryable]).toEqual([0, true]);
      expect(err.message).toContain("no answer within 200 ms");
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it("reports an unreachable API as retryable", async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const adapter = createGithubAdapter({ fetch: loopbackEgress.fetch, clock });
    const err = await apiError(
      adapter.setCommitStatus(
        githubIntegration({ apiUrl: `http://127.0.0.1:${port}` }),
        "acme/infra",
        SHA,
        status,
      ),
    );
    expect([err.status, err.retryable]).toEqual([0, true]);
    expect(err.message).toContain("ECONNREFUSED");
  });
});
