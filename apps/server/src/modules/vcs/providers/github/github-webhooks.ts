import { createHmac, timingSafeEqual } from "node:crypto";
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
  splitRef,
  ZERO_SHA,
} from "../provider-input.ts";
import { githubSettings } from "./github-settings.ts";

// GitHub webhooks (docs.github.com "Webhook events and payloads"). Only the fields we
// read are validated; GitHub adds fields freely, and unknown ones pass through.

/** GitHub caps the commits listed in a push payload at 2048. */
const MAX_LISTED_COMMITS = 2048;

/**
 * `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` with the webhook secret,
 * compared in constant time. The delivery id (`X-GitHub-Delivery`) is what the core
 * dedups redeliveries on.
 */
export function verifyGithubWebhook(
  integration: VcsIntegration,
  headers: Record<string, string | string[] | undefined>,
  rawBody: Buffer,
): WebhookVerdict {
  const { webhookSecret } = githubSettings(integration);
  if (!webhookSecret)
    return {
      ok: false,
      reason: "the integration has no webhook secret configured",
    };
  const signature = headerValue(headers, "x-hub-signature-256");
  if (!signature)
    return { ok: false, reason: "missing X-Hub-Signature-256 header" };
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
  if (!m?.[1])
    return {
      ok: false,
      reason: "X-Hub-Signature-256 is not of the form sha256=<64 hex digits>",
    };
  const expected = createHmac("sha256", webhookSecret).update(rawBody).digest();
  if (!timingSafeEqual(expected, Buffer.from(m[1], "hex")))
    return {
      ok: false,
      reason: "X-Hub-Signature-256 does not match the webhook secret",
    };
  const deliveryId = headerValue(headers, "x-github-delivery")?.trim();
  const eventName = headerValue(headers, "x-github-event")?.trim();
  if (!deliveryId)
    return { ok: false, reason: "missing X-GitHub-Delivery header" };
  if (!eventName) return { ok: false, reason: "missing X-GitHub-Event header" };
  return { ok: true, deliveryId, eventName };
}

const files = z.array(z.string()).optional();
const commit = z.object({
  id: z.string(),
  message: z.string(),
  timestamp: z.string(),
  author: z.object({
    name: z.string(),
    email: z.string().nullish(),
    username: z.string().nullish(),
  }),
  added: files,
  modified: files,
  removed: files,
});
const repository = z.object({ full_name: z.string().min(1) });

const pushSchema = z.object({
  ref: z.string().min(1),
  before: z.string(),
  after: z.string().min(1),
  created: z.boolean().optional(),
  deleted: z.boolean().optional(),
  commits: z.array(commit),
  head_commit: commit.nullable(),
  repository,
  pusher: z.object({ name: z.string() }),
});

const pullRequestSchema = z.object({
  action: z.string().min(1),
  number: z.number().int().positive(),
  pull_request: z.object({
    title: z.string(),
    draft: z.boolean().optional(),
    user: z.object({ login: z.string() }),
    labels: z.array(z.object({ name: z.string() })),
    head: z.object({ ref: z.string().min(1), sha: z.string().min(1) }),
    base: z.object({ ref: z.string().min(1) }),
  }),
  repository,
});

const PR_ACTIONS = new Set<PullRequestEvent["action"]>([
  "opened",
  "synchronize",
  "reopened",
  "closed",
  "labeled",
  "unlabeled",
  "edited",
]);

/**
 * Maps a verified GitHub payload to a normalized event. `push` and `pull_request` are
 * understood; every other event (ping, installation, issue_comment, …) is ignored with
 * its name. Throws VcsInputError naming the field when a payload lacks what we need.
 */
export function parseGithubWebhook(
  eventName: string,
  payload: unknown,
  now: () => Date,
): ParsedWebhook {
  switch (eventName) {
    case "push":
      return parsePush(parsePayload(pushSchema, payload, "GitHub push"), now);
    case "pull_request":
      return parsePullRequest(
        parsePayload(pullRequestSchema, payload, "GitHub pull_request"),
      );
    default:
      return {
        kind: "ignored",
        reason: `GitHub event "${eventName}" is not handled`,
      };
  }
}

function parsePush(
  p: z.infer<typeof pushSchema>,
  now: () => Date,
): ParsedWebhook {
  const repo = p.repository.full_name;
  if (p.deleted || p.after === ZERO_SHA)
    return {
      kind: "ignored",
      reason: `push to ${repo} deletes ${p.ref}`,
    };
  const { branch, tag } = splitRef(p.ref);
  if (!branch && !tag)
    return {
      kind: "ignored",
      reason: `push to ${repo} updates ${p.ref}, neither a branch nor a tag`,
    };
  const head = p.head_commit;
  const createdAt = head ? new Date(head.timestamp) : now();
  // A new ref's payload does not list what differs from its base, and a capped list is
  // incomplete: the core then computes the files with git.
  const filesKnown =
    !p.created &&
    p.before !== ZERO_SHA &&
    p.commits.length < MAX_LISTED_COMMITS;
  const event: PushEvent = {
    kind: "push",
    repository: repo,
    branch,
    tag,
    sha: p.after,
    beforeSha: p.before && p.before !== ZERO_SHA ? p.before : null,
    message: head?.message ?? "",
    author: head?.author.username || head?.author.name || p.pusher.name,
    createdAt: Number.isNaN(createdAt.getTime()) ? now() : createdAt,
    affectedFiles: filesKnown ? affectedFilesOf(p.commits) : null,
  };
  return event;
}

function parsePullRequest(p: z.infer<typeof pullRequestSchema>): ParsedWebhook {
  const pr = p.pull_request;
  const action = PR_ACTIONS.has(p.action as PullRequestEvent["action"])
    ? (p.action as PullRequestEvent["action"])
    : "other";
  return {
    kind: "pull_request",
    repository: p.repository.full_name,
    action,
    number: p.number,
    headSha: pr.head.sha,
    headBranch: pr.head.ref,
    baseBranch: pr.base.ref,
    title: pr.title,
    author: pr.user.login,
    labels: pr.labels.map((l) => l.name),
    draft: pr.draft ?? false,
    // The pull_request payload does not list files; the core diffs with git.
    affectedFiles: null,
  };
}
