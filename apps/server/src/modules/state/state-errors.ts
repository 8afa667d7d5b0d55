import {
  AppError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
} from "../../platform/errors.ts";

/**
 * The state is locked by someone else. HTTP 423, and the body is the holder's LockInfo
 * JSON (not the usual error envelope): tofu parses it to report who holds the lock.
 */
export class StateLockedError extends AppError {
  override readonly code = "STATE_LOCKED";
  override readonly httpStatus = 423;
  readonly lockInfo: Record<string, unknown>;

  constructor(
    message: string,
    lockInfo: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.lockInfo = lockInfo;
  }
}

/** An unlock, or a write, names a lock other than the one held (or one no longer held). */
export class StateLockMismatchError extends ConflictError {
  readonly lockInfo: Record<string, unknown> | null;

  constructor(message: string, lockInfo: Record<string, unknown> | null) {
    super(message);
    this.lockInfo = lockInfo;
  }
}

/** The uploaded state belongs to another lineage than the stack's current state. */
export class StateLineageMismatchError extends ConflictError {}

/** The uploaded state's serial is below the current one (or equal with other content). */
export class StateSerialError extends ConflictError {}

/** The body is not a state file (not JSON, or no serial/lineage), or not lock info. */
export class InvalidStateError extends ValidationError {}

/** Valid credentials, but the run may not do this (finished run, read-only, wrong stack). */
export class StateAccessDeniedError extends ForbiddenError {}

export class StateVersionNotFoundError extends NotFoundError {
  constructor(stackId: string, versionId: string) {
    super(`stack ${stackId} has no state version ${versionId}`);
  }
}
