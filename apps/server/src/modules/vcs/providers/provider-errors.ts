import { AppError } from "../../../platform/errors.ts";

export type ProviderName = "GitHub" | "GitLab";

/**
 * A provider API call failed: a non-2xx answer, a network error or a timeout. The message
 * names the provider, the method and path and the provider's own `message`; it never
 * carries a token or a private key.
 *
 * `retryable` tells the feedback jobs whether trying again can help: network errors,
 * timeouts, 401 (the cached token was dropped, the next attempt fetches a new one), 408,
 * 429, a rate-limited 403 and any 5xx are retryable, so the job is simply rethrown and
 * the queue retries it with backoff. Any other 4xx (repository not found, App not
 * installed, validation failed) will fail the same way again and is not.
 */
export class VcsProviderApiError extends AppError {
  override readonly code = "VCS_PROVIDER_ERROR";
  override readonly httpStatus = 502;

  constructor(
    readonly provider: ProviderName,
    /** The provider's HTTP status; 0 for a network error or a timeout. */
    readonly status: number,
    readonly retryable: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The integration's stored settings cannot work (a private key that is not a PEM RSA key,
 * an API URL that is not a URL). Not retryable: an administrator must fix the integration.
 */
export class VcsProviderConfigurationError extends AppError {
  override readonly code = "VCS_MISCONFIGURED";
  override readonly httpStatus = 400;
  readonly retryable = false;
}
