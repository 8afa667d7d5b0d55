/**
 * The contract between the VCS core (ingress, push decisions, polling, feedback) and the
 * provider adapters (GitHub, GitLab). Adapters are pure translators plus API calls: they
 * verify and parse webhooks and report back to the provider; they never touch the
 * database or the queue. The composition root registers them as a map by kind.
 */
import { VcsInputError } from "./vcs-errors.ts";

export { VcsInputError };

export type VcsProviderKind = "GITHUB" | "GITLAB" | "RAW_GIT";

export interface VcsIntegration {
  id: string;
  name: string;
  provider: VcsProviderKind;
  spaceId: string;
  isDefault: boolean;
  labels: string[];
  description: string | null;
  /** Provider settings, secrets already decrypted (never log or return). */
  settings: GithubSettings | GitlabSettings | RawGitSettings;
}

export interface GithubSettings {
  kind: "GITHUB";
  apiUrl: string;
  /** base for clone URLs, e.g. https://github.com */
  gitUrl: string;
  appId: string;
  privateKeyPem: string;
  webhookSecret: string;
}

export interface GitlabSettings {
  kind: "GITLAB";
  apiUrl: string;
  gitUrl: string;
  token: string;
  webhookSecret: string;
}

export interface RawGitSettings {
  kind: "RAW_GIT";
}

export interface PushEvent {
  kind: "push";
  /** "namespace/name" */
  repository: string;
  branch: string | null;
  tag: string | null;
  sha: string;
  beforeSha: string | null;
  message: string;
  author: string;
  createdAt: Date;
  /** null: unknown, compute with git */
  affectedFiles: string[] | null;
}

export interface PullRequestEvent {
  kind: "pull_request";
  repository: string;
  action:
    | "opened"
    | "synchronize"
    | "reopened"
    | "closed"
    | "labeled"
    | "unlabeled"
    | "edited"
    | "other";
  number: number;
  headSha: string;
  headBranch: string;
  baseBranch: string;
  title: string;
  author: string;
  labels: string[];
  draft: boolean;
  affectedFiles: string[] | null;
}

export type ParsedWebhook =
  | PushEvent
  | PullRequestEvent
  | { kind: "ignored"; reason: string };

export type WebhookVerdict =
  | { ok: true; deliveryId: string; eventName: string }
  | { ok: false; reason: string };

export interface CommitStatus {
  /** e.g. "stackyard/tracked" or "stackyard/<stack-id>" */
  context: string;
  state: "pending" | "success" | "failure" | "error";
  description: string;
  targetUrl: string;
}

/**
 * Adapter failures: an error carrying `retryable: false` (a refused credential, a
 * repository the App cannot see, settings that cannot work) fails the same way on every
 * attempt, so the feedback jobs dead-letter it at once; any other error is retried by
 * the queue. Messages never carry a token or a key.
 */
export function isRetryableProviderError(err: unknown): boolean {
  return !(
    err instanceof VcsInputError ||
    (typeof err === "object" &&
      err !== null &&
      "retryable" in err &&
      err.retryable === false)
  );
}

export interface VcsProviderAdapter {
  kind: "GITHUB" | "GITLAB";
  /** Checks the signature/token header against settings.webhookSecret (timing-safe). */
  verifyWebhook(
    integration: VcsIntegration,
    headers: Record<string, string | string[] | undefined>,
    rawBody: Buffer,
  ): WebhookVerdict;
  /** Pure: maps a verified payload to a normalized event; throws VcsInputError on a malformed payload. */
  parseWebhook(
    integration: VcsIntegration,
    eventName: string,
    payload: unknown,
  ): ParsedWebhook;
  setCommitStatus(
    integration: VcsIntegration,
    repository: string,
    sha: string,
    status: CommitStatus,
  ): Promise<void>;
  /** Creates or updates in place the one comment carrying `marker` (an HTML comment). */
  upsertPullRequestComment(
    integration: VcsIntegration,
    repository: string,
    prNumber: number,
    marker: string,
    body: string,
  ): Promise<void>;
  /** The URL the launcher clones from, credentials included when needed (e.g. an installation token). */
  cloneUrl(integration: VcsIntegration, repository: string): Promise<string>;
}

/** Adapters by provider kind, registered once in the composition root. */
export type VcsProviderAdapters = Partial<
  Record<"GITHUB" | "GITLAB", VcsProviderAdapter>
>;
