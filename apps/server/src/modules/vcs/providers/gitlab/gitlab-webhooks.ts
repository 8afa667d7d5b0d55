import { createHash } from "node:crypto";
import { z } from "zod";
import type {
  ParsedWebhook,
  PullRequestEvent,
  PushEvent,
  VcsIntegration,
  WebhookVerdict,
} from "../../provider.ts";
import {
  affectedFilesOf,
  headerValue,
  parsePayload,
  secretsEqual,
  splitRef,
  ZERO_SHA,
} from "../provider-input.ts";
import { gitlabSettings } from "./gitlab-settings.ts";

// GitLab webhooks (docs.gitlab.com "Webhook events"): Push Hook, Tag Push Hook and Merge
// Request Hook. Only the fields we read are validated; unknown fields pass through.

/**
 * GitLab sends the webhook's secret token itself in `X-Gitlab-Token` (no signature);
 * it is compared in constant time. The delivery id is `X-Gitlab-Event-UUID`, or, from
 * a GitLab too old to send it, a hash of the body (a redelivery then dedups too).
 */
export function verifyGitlabWebhook(
  integration: VcsIntegration,
  headers: Record<string, string | string[] | undefined>,
  rawBody: Buffer,
): WebhookVerdict {
  const { webhookSecret } = gitlabSettings(integration);
  if (!webhookSecret)
    return {
      ok: false,
      reason: "the integration has no webhook secret configured",
    };
  const token = headerValue(headers, "x-gitlab-token");
  if (token === undefined)
    return { ok: false, reason: "missing X-Gitlab-Token header" };
  if (!secretsEqual(token, webhookSecret))
    return {
      ok: false,
      reason: "X-Gitlab-Token does not match the webhook secret",
    };
  const eventName = headerValue(headers, "x-gitlab-event")?.trim();
  if (!eventName) return { ok: false, reason: "missing X-Gitlab-Event header" };
  const deliveryId =
    headerValue(headers, "x-gitlab-event-uuid")?.trim() ||
    `sha256:${createHash("sha256").update(rawBody).digest("hex")}`;
  return { ok: true, deliveryId, eventName };
}

const files = z.array(z.string()).optional();
const project = z.object({ path_with_namespace: z.string().min(1) });

const pushSchema = z.object({
  ref: z.string().min(1),
  before: z.string(),
  after: z.string().min(1),
  checkout_sha: z.string().nullish(),
  user_username: z.string().nullish(),
  user_name: z.string().nullish(),
  project,
  commits: z.array(
    z.object({
      id: z.string(),
      message: z.string(),
      timestamp: z.string(),
      author: z.object({ name: z.string() }).nullish(),
      added: files,
      modified: files,
      removed: files,
    }),
  ),
  total_commits_count: z.number().int().nonnegative().optional(),
});

const label = z.object({ title: z.string() });
const mergeRequestSchema = z.object({
  user: z.object({ username: z.string() }),
  project,
  object_attributes: z.object({
    iid: z.number().int().positive(),
    action: z.string().optional(),
    title: z.string(),
    source_branch: z.string().min(1),
    target_branch: z.string().min(1),
    last_commit: z.object({ id: z.string().min(1) }),
    oldrev: z.string().nullish(),
    draft: z.boolean().optional(),
    work_in_progress: z.boolean().optional(),
    labels: z.array(label).optional(),
  }),
  labels: z.array(label).optional(),
  changes: z
    .object({
      labels: z
        .object({ previous: z.array(label), current: z.array(label) })
        .optional(),
    })
    .optional(),
});

/**
 * Maps a verified GitLab payload to a normalized event by its `X-Gitlab-Event` name;
 * other events (Note Hook, Pipeline Hook, …) are ignored with their name. Throws
 * VcsInputError naming the field when a payload lacks what we need.
 */
export function parseGitlabWebhook(
  eventName: string,
  payload: unknown,
  now: () => Date,
): ParsedWebhook {
  switch (eventName) {
    case "Push Hook":
    case "Tag Push Hook":
      return parsePush(
        parsePayload(pushSchema, payload, `GitLab ${eventName}`),
        now,
      );
    case "Merge Request Hook":
      return parseMergeRequest(
        parsePayload(mergeRequestSchema, payload, "GitLab Merge Request Hook"),
      );
    default:
      return {
        kind: "ignored",
        reason: `GitLab event "${eventName}" is not handled`,
      };
  }
}

function parsePush(
  p: z.infer<typeof pushSchema>,
  now: () => Date,
): ParsedWebhook {
  const repo = p.project.path_with_namespace;
  // For an annotated tag `after` is the tag object; `checkout_sha` is the commit.
  const sha = p.checkout_sha || p.after;
  if (sha === ZERO_SHA)
    return { kind: "ignored", reason: `push to ${repo} deletes ${p.ref}` };
  const { branch, tag } = splitRef(p.ref);
  if (!branch && !tag)
    return {
      kind: "ignored",
      reason: `push to ${repo} updates ${p.ref}, neither a branch nor a tag`,
    };
  const head =
    p.commits.find((c) => c.id === sha) ?? p.commits[p.commits.length - 1];
  const createdAt = head ? new Date(head.timestamp) : now();
  // GitLab lists at most 20 commits of a push, and a new ref's list says nothing of its
  // base: then the files are unknown and the core computes them with git.
  const filesKnown =
    p.before !== ZERO_SHA &&
    (p.total_commits_count ?? p.commits.length) <= p.commits.length;
  const event: PushEvent = {
    kind: "push",
    repository: repo,
    branch,
    tag,
    sha,
    beforeSha: p.before && p.before !== ZERO_SHA ? p.before : null,
    message: head?.message ?? "",
    author: p.user_username || p.user_name || head?.author?.name || "",
    createdAt: Number.isNaN(createdAt.getTime()) ? now() : createdAt,
    affectedFiles: filesKnown ? affectedFilesOf(p.commits) : null,
  };
  return event;
}

function parseMergeRequest(
  p: z.infer<typeof mergeRequestSchema>,
): ParsedWebhook {
  const mr = p.object_attributes;
  return {
    kind: "pull_request",
    repository: p.project.path_with_namespace,
    action: mergeRequestAction(p),
    number: mr.iid,
    headSha: mr.last_commit.id,
    headBranch: mr.source_branch,
    baseBranch: mr.target_branch,
    title: mr.title,
    // GitLab names only the user who caused the event, not the author, in the hook.
    author: p.user.username,
    labels: (p.labels ?? mr.labels ?? []).map((l) => l.title),
    draft: mr.draft ?? mr.work_in_progress ?? false,
    affectedFiles: null,
  };
}

/**
 * GitLab's `object_attributes.action` to ours: an `update` carrying `oldrev` brought new
 * commits (synchronize); one changing labels is labeled/unlabeled; any other update is an
 * edit. A merge closes the request. Approvals and the like are "other".
 */
function mergeRequestAction(
  p: z.infer<typeof mergeRequestSchema>,
): PullRequestEvent["action"] {
  switch (p.object_attributes.action) {
    case "open":
      return "opened";
    case "reopen":
      return "reopened";
    case "close":
    case "merge":
      return "closed";
    case "update": {
      if (p.object_attributes.oldrev) return "synchronize";
      const labels = p.changes?.labels;
      if (labels) {
        const before = new Set(labels.previous.map((l) => l.title));
        const added = labels.current.some((l) => !before.has(l.title));
        return added ? "labeled" : "unlabeled";
      }
      return "edited";
    }
    default:
      return "other";
  }
}
