/**
 * The VCS provider adapters (provider.ts is the contract): GitHub as a GitHub App and
 * GitLab with an access token. Each verifies and parses its webhooks and reports back
 * (commit statuses, pull/merge request comments) through the provider's REST API. They
 * hold no database state: the only state is the per-process GitHub token cache.
 * Failed API calls throw VcsProviderApiError with `retryable`; the queue does the retries.
 */
export {
  createGithubAdapter,
  type GithubAdapterDeps,
} from "./github/github-adapter.ts";
export {
  createGitlabAdapter,
  type GitlabAdapterDeps,
} from "./gitlab/gitlab-adapter.ts";
export {
  VcsProviderApiError,
  VcsProviderConfigurationError,
} from "./provider-errors.ts";
