import { createHash } from "node:crypto";
import { z } from "zod";
import type {
  CommitStatus,
  GitlabSettings,
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
import { gitlabSettings } from "./gitlab-settings.ts";
import { parseGitlabWebhook, verifyGitlabWebhook } from "./gitlab-webhooks.ts";

const MAX_STATUS_DESCRIPTION = 255;
const MAX_NOTE_BODY = 1_000_000;
/** Note pages read when looking for the marker (100 each). */
const MAX_NOTE_PAGES = 20;

/** Our states to GitLab's commit status states (pending|running|success|failed|canceled). */
const GITLAB_STATE: Record<CommitStatus["state"], string> = {
  // A run reporting "pending" is queued or working: GitLab shows "running".
  pending: "running",
  success: "success",
  failure: "failed",
  error: "failed",
};

export interface GitlabAdapterDeps {
  /** The egress guard's fetch (platform/http/egress.ts): the API URL is user-chosen. */
  fetch: typeof fetch;
  clock?: () => Date;
  /** Per API request; default 15 s. */
  timeoutMs?: number;
}

const notesSchema = z.array(
  z.object({
    id: z.number(),
    body: z.string().nullish(),
    system: z.boolean().optional(),
    author: z.object({ id: z.number() }).nullish(),
  }),
);
const userSchema = z.object({ id: z.number() });

/**
 * The GitLab adapter: webhooks checked by their secret token, and feedback (commit
 * statuses, merge request notes) through the v4 REST API with a personal, group or
 * project access token (`api` scope). Works with gitlab.com and self-managed GitLab.
 */
export function createGitlabAdapter(
  deps: GitlabAdapterDeps,
): VcsProviderAdapter {
  const clock = deps.clock ?? (() => new Date());
  const http: ProviderHttpDeps = {
    fetch: deps.fetch,
    timeoutMs: deps.timeoutMs ?? 15_000,
  };

  /** `apiUrl` may be the instance (https://gitlab.com) or its API root (…/api/v4). */
  const v4 = (
    s: GitlabSettings,
    path: string,
    query?: Record<string, string>,
  ) =>
    apiUrl(
      "GitLab",
      s.apiUrl,
      /\/api\/v4\/*$/.test(s.apiUrl) ? path : `/api/v4${path}`,
      query,
    );

  /**
   * One REST call with the integration's token. GitLab refusing the token (401) will not
   * change on a retry, so that error is not retryable: an administrator must replace it.
   */
  const call = (
    s: GitlabSettings,
    req: Omit<ProviderRequest, "provider" | "headers" | "secrets">,
  ) =>
    providerRequest(http, {
      ...req,
      provider: "GitLab",
      headers: { "private-token": s.token },
      secrets: [s.token],
    }).catch((err: unknown) => {
      if (err instanceof VcsProviderApiError && err.status === 401)
        throw new VcsProviderApiError(
          "GitLab",
          401,
          false,
          `${err.message} (GitLab refused the integration's access token; it may be expired or revoked, or lack the api scope)`,
          { cause: err },
        );
      throw err;
    });

  /**
   * The id of the token's user (GET /user), so that only its own notes are edited. Cached
   * per integration and token; a failed lookup is forgotten so the next call tries again.
   */
  const tokenUsers = new Map<string, Promise<number>>();
  const tokenUserId = (integration: VcsIntegration, s: GitlabSettings) => {
    const key = `${integration.id}\u0000${s.apiUrl}\u0000${createHash("sha256").update(s.token).digest("hex")}`;
    let user = tokenUsers.get(key);
    if (!user) {
      user = call(s, { method: "GET", url: v4(s, "/user") }).then((res) => {
        const parsed = userSchema.safeParse(res.body);
        if (!parsed.success)
          throw new VcsProviderApiError(
            "GitLab",
            res.status,
            true,
            "GitLab answered an unexpected body for GET /user",
          );
        return parsed.data.id;
      });
      tokenUsers.set(key, user);
      user.catch(() => {
        if (tokenUsers.get(key) === user) tokenUsers.delete(key);
      });
    }
    return user;
  };

  const projectPath = (repository: string) =>
    `/projects/${encodeURIComponent(checkRepository("GitLab", repository).join("/"))}`;

  return {
    kind: "GITLAB",

    verifyWebhook: verifyGitlabWebhook,

    parseWebhook(_integration, eventName, payload) {
      return parseGitlabWebhook(eventName, payload, clock);
    },

    /**
     * GitLab refuses to move a status to the state it is already in ("Cannot transition
     * status via :run from :running"); a repeated report (a retried job) is therefore
     * treated as done.
     */
    async setCommitStatus(integration, repository, sha, status) {
      const s = gitlabSettings(integration);
      const state = GITLAB_STATE[status.state];
      try {
        await call(s, {
          method: "POST",
          url: v4(
            s,
            `${projectPath(repository)}/statuses/${encodeURIComponent(sha)}`,
          ),
          body: {
            state,
            name: status.context,
            description: truncate(status.description, MAX_STATUS_DESCRIPTION),
            ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
          },
        });
      } catch (err) {
        const from =
          err instanceof VcsProviderApiError && err.status === 400
            ? /Cannot transition status via :\w+ from :(\w+)/.exec(
                err.message,
              )?.[1]
            : undefined;
        if (from !== state) throw err;
      }
    },

    /**
     * Finds the token user's own note carrying `marker` and edits it, or creates one.
     * Not atomic: the caller serializes feedback per merge request.
     */
    async upsertPullRequestComment(
      integration: VcsIntegration,
      repository,
      prNumber,
      marker,
      body,
    ) {
      const s = gitlabSettings(integration);
      const notesPath = `${projectPath(repository)}/merge_requests/${prNumber}/notes`;
      const text = truncate(withMarker(marker, body), MAX_NOTE_BODY);
      const self = await tokenUserId(integration, s);

      let existing: number | null = null;
      let url: URL | null = v4(s, notesPath, {
        per_page: "100",
        sort: "asc",
        order_by: "created_at",
      });
      for (let page = 0; url && page < MAX_NOTE_PAGES && !existing; page++) {
        const res = await call(s, { method: "GET", url });
        const parsed = notesSchema.safeParse(res.body);
        if (!parsed.success)
          throw new VcsProviderApiError(
            "GitLab",
            res.status,
            true,
            `GitLab answered an unexpected note list for ${repository}!${prNumber}`,
          );
        existing =
          parsed.data.find(
            (n) =>
              !n.system &&
              n.author?.id === self &&
              (n.body ?? "").includes(marker),
          )?.id ?? null;
        url = nextPageUrl(res.headers, url);
      }

      if (existing !== null)
        await call(s, {
          method: "PUT",
          url: v4(s, `${notesPath}/${existing}`),
          body: { body: text },
        });
      else
        await call(s, {
          method: "POST",
          url: v4(s, notesPath),
          body: { body: text },
        });
    },

    /** Carries the access token for an https base: hand it to the run, never log it. */
    async cloneUrl(integration, repository) {
      const s = gitlabSettings(integration);
      return buildCloneUrl(
        "GitLab",
        s.gitUrl,
        checkRepository("GitLab", repository),
        () => Promise.resolve({ username: "oauth2", password: s.token }),
      );
    },
  };
}
