import {
  AppError,
  ConflictError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from "../../platform/errors.ts";

/** A stack's repository could not be read (unreachable, refused); the URL is never named. */
export class VcsRepositoryUnavailableError extends UnavailableError {}

/** A webhook payload or VCS input that cannot be understood; the message names the field. */
export class VcsInputError extends ValidationError {}

/** A webhook larger than the accepted maximum (HTTP 413). */
export class VcsPayloadTooLargeError extends AppError {
  override readonly code = "PAYLOAD_TOO_LARGE";
  override readonly httpStatus = 413;
}

/** A webhook whose signature or token does not match the integration's secret (HTTP 401). */
export class VcsWebhookRejectedError extends AppError {
  override readonly code = "UNAUTHENTICATED";
  override readonly httpStatus = 401;
}

export class VcsIntegrationNotFoundError extends NotFoundError {}

export class VcsIntegrationConflictError extends ConflictError {}

/**
 * A GitHub or GitLab stack whose clone URL cannot be made: no integration to clone
 * through, or one of another provider. The message says which field to fix.
 */
export class VcsCloneUrlError extends ValidationError {}
