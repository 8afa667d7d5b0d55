/**
 * Typed application errors. Modules throw these (or their own subclasses, defined in
 * `<module>-errors.ts`); only the edges (HTTP handler, GraphQL formatError, CLI) map
 * `code` / `httpStatus` to a response. Anything that is not an AppError is an internal
 * error: logged with its cause chain, shown to the caller as "internal error".
 */
export class AppError extends Error {
  readonly code: string = "INTERNAL";
  readonly httpStatus: number = 500;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  override readonly code = "NOT_FOUND";
  override readonly httpStatus = 404;
}

export class ForbiddenError extends AppError {
  override readonly code = "FORBIDDEN";
  override readonly httpStatus = 403;
}

export class UnauthorizedError extends AppError {
  override readonly code = "UNAUTHENTICATED";
  override readonly httpStatus = 401;
}

export class ConflictError extends AppError {
  override readonly code = "CONFLICT";
  override readonly httpStatus = 409;
}

export class ValidationError extends AppError {
  override readonly code = "BAD_USER_INPUT";
  override readonly httpStatus = 400;
}

/** A dependency (database, storage, broker) is unavailable; callers may retry. */
export class UnavailableError extends AppError {
  override readonly code = "UNAVAILABLE";
  override readonly httpStatus = 503;
}

/** A Spacelift operation of the compatibility schema that Stackyard does not serve yet. */
export class NotImplementedError extends AppError {
  override readonly code = "NOT_IMPLEMENTED";
  override readonly httpStatus = 501;
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Too many attempts from one client; `retryAfterSeconds` says when to try again. */
export class RateLimitedError extends AppError {
  override readonly code = "RATE_LIMITED";
  override readonly httpStatus = 429;

  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
