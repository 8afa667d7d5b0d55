import { z } from "zod";
import type {
  CommitStatus,
  VcsIntegration,
  VcsProviderAdapter,
} from "../../provider.ts";
import { VcsProviderApiError } from "../provider-errors.ts";
import {
  apiUrl,
  nextPageUrl,
  providerRequest,
  type ProviderHttpDeps,
  type ProviderRequest,
} from "../provider-http.ts";
import {
  buildCloneUrl,
  checkRepository,
  truncate,
  withMarker,
} from "../provider-input.ts";
import {
  createGithubAppAuth,
  GITHUB_API_HEADERS,
  type InstallationToken,
} from "./github-app-auth.ts";
import { githubSettings } from "./github-settings.ts";
import { parseGithubWebhook, verifyGithubWebhook } from "./github-webhooks.ts";

/** GitHub's limits: a status description, and an issue comment body. */
const MAX_STATUS_DESCRIPTION = 140;
const MAX_COMMENT_BODY = 65_536;
/** Comment pages read when looking for the marker (100 each). */
const MAX_COMMENT_PAGES = 20;

export interface GithubAdapterDeps {
  /** The egress guard's fetch (platform/http/egress.ts): the API URL is user-chosen. */
  fetch: typeof fetch;
  clock?: () => Date;
  /** Per API request; default 15 s. */
  timeoutMs?: number;
}

const commentSchema = z.array(
  z.object({
    id: z.number(),
    body: z.string().nullish(),
    user: z.object({ type: z.string() }).nullish(),
  }),
);

/**
 * The GitHub App adapter: webhooks signed with the App's webhook secret, and feedback
 * (commit statuses, pull request comments) through the REST API as the App's
 * installation on the repository. Works with github.com and GitHub Enterprise Server
 * (`apiUrl` https://ghe.example.com/api/v3).
 */
export function createGithubAdapter(
  deps: GithubAdapterDeps,
): VcsProviderAdapter {
  const clock = deps.clock ?? (() => new Date());
  const http: ProviderHttpDeps = {
    fetch: deps.fetch,
    timeoutMs: deps.timeoutMs ?? 15_000,
  };
  const auth = createGithubAppAuth({ ...http, clock });

  /**
   * One REST call as the installation. A 401 drops the cached token before the error
   * propagates, so the queue's retry authenticates afresh.
   */
  async function call(
    integration: VcsIntegration,
    owner: string,
    repo: string,
    req: Omit<ProviderRequest, "provider" | "headers" | "secrets">,
  ) {
    const token: InstallationToken = await auth.installationToken(
      integration,
      owner,
      repo,
    );
    try {
      return await providerRequest(http, {
        ...req,
        provider: "GitHub",
        headers: {
          ...GITHUB_API_HEADERS,
          authorization: `Bearer ${token.token}`,
        },
        secrets: [token.token],
      });
    } catch (err) {
      if (err instanceof VcsProviderApiError && err.status === 401)
        auth.dropToken(token);
      throw err;
    }
  }

  const repoPath = (owner: string, repo: string) =>
    `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;

  return {
    kind: "GITHUB",

    verifyWebhook: verifyGithubWebhook,

    parseWebhook(_integration, eventName, payload) {
      return parseGithubWebhook(eventName, payload, clock);
    },

    async setCommitStatus(integration, repository, sha, status: CommitStatus) {
      const s = githubSettings(integration);
      const [owner = "", repo = ""] = checkRepository("GitHub", repository);
      await call(integration, owner, repo, {
        method: "POST",
        url: apiUrl(
          "GitHub",
          s.apiUrl,
          `${repoPath(owner, repo)}/statuses/${encodeURIComponent(sha)}`,
        ),
        body: {
          state: status.state,
          context: status.context,
          description: truncate(status.description, MAX_STATUS_DESCRIPTION),
          ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
        },
      });
    },

    /**
     * Finds the App's own comment (a Bot user) carrying `marker` and edits it, or creates
     * one. Not atomic: two concurrent upserts on one pull request may both create, so the
     * caller serializes feedback per pull request.
     */
    async upsertPullRequestComment(
      integration,
      repository,
      prNumber,
      marker,
      body,
    ) {
      const s = githubSettings(integration);
      const [owner = "", repo = ""] = checkRepository("GitHub", repository);
      const text = truncate(withMarker(marker, body), MAX_COMMENT_BODY);
      const issuePath = `${repoPath(owner, repo)}/issues/${prNumber}`;

      let existing: number | null = null;
      let url: URL | null = apiUrl(
        "GitHub",
        s.apiUrl,
        `${issuePath}/comments`,
        {
          per_page: "100",
        },
      );
      for (let page = 0; url && page < MAX_COMMENT_PAGES && !existing; page++) {
        const res = await call(integration, owner, repo, {
          method: "GET",
          url,
        });
        const parsed = commentSchema.safeParse(res.body);
        if (!parsed.success)
          throw new VcsProviderApiError(
            "GitHub",
            res.status,
            true,
            `GitHub answered an unexpected comment list for ${repository}#${prNumber}`,
          );
        existing =
          parsed.data.find(
            (c) => c.user?.type === "Bot" && (c.body ?? "").includes(marker),
          )?.id ?? null;
        url = nextPageUrl(res.headers, url);
      }

      if (existing !== null)
        await call(integration, owner, repo, {
          method: "PATCH",
          url: apiUrl(
            "GitHub",
            s.apiUrl,
            `${repoPath(owner, repo)}/issues/comments/${existing}`,
          ),
          body: { body: text },
        });
      else
        await call(integration, owner, repo, {
          method: "POST",
          url: apiUrl("GitHub", s.apiUrl, `${issuePath}/comments`),
          body: { body: text },
        });
    },

    /** Carries a live installation token (about an hour): hand it to the run, never log it. */
    async cloneUrl(integration, repository) {
      const s = githubSettings(integration);
      const segments = checkRepository("GitHub", repository);
      const [owner = "", repo = ""] = segments;
      return buildCloneUrl("GitHub", s.gitUrl, segments, async () => ({
        username: "x-access-token",
        password: (await auth.installationToken(integration, owner, repo))
          .token,
      }));
    },
  };
}
