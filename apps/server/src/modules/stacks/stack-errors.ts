import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
} from "../../platform/errors.ts";

/**
 * Missing and invisible look the same: a caller without read access to a stack gets
 * the same "not found" as for a stack that does not exist, so ids don't leak. The
 * Terraform provider treats any error containing "not found" as "resource gone".
 */
export class StackNotFoundError extends NotFoundError {
  constructor(readonly stackId: string) {
    super(`stack ${stackId} not found`);
  }
}

export class ContextNotFoundError extends NotFoundError {
  constructor(readonly contextId: string) {
    super(`context ${contextId} not found`);
  }
}

export class ContextAttachmentNotFoundError extends NotFoundError {
  constructor(readonly attachmentId: string) {
    super(`context attachment ${attachmentId} not found`);
  }
}

export class SpaceNotFoundError extends NotFoundError {
  constructor(readonly spaceId: string) {
    super(`space ${spaceId} not found`);
  }
}

export class WorkerPoolNotFoundForStackError extends NotFoundError {
  constructor(readonly workerPoolId: string) {
    super(`worker pool ${workerPoolId} not found`);
  }
}

/** `stackSyncCommit` on a stack whose tracked branch is not in its repository. */
export class StackBranchNotFoundError extends ConflictError {
  constructor(
    readonly stackId: string,
    readonly branch: string,
  ) {
    super(
      `stack ${stackId}: branch ${branch} does not exist in the stack's repository`,
    );
  }
}

export class StackProtectedError extends ConflictError {
  constructor(readonly stackId: string) {
    super(
      `stack ${stackId} is protected from deletion; set protectFromDeletion to false first`,
    );
  }
}

export class StackLockedError extends ConflictError {
  constructor(
    readonly stackId: string,
    readonly lockedBy: string,
  ) {
    super(`stack ${stackId} is locked by ${lockedBy}`);
  }
}

export class StackNotLockedError extends ConflictError {
  constructor(readonly stackId: string) {
    super(`stack ${stackId} is not locked`);
  }
}

export class ContextAlreadyAttachedError extends ConflictError {
  constructor(
    readonly contextId: string,
    readonly stackId: string,
  ) {
    super(`context ${contextId} is already attached to stack ${stackId}`);
  }
}

export class SpaceNotEmptyError extends ConflictError {}

export class AccessDeniedError extends ForbiddenError {}

/**
 * A stack names a worker pool, VCS integration or context that lives outside the
 * spaces it may use (its own, and the ancestors it inherits from).
 */
export class OutOfSpaceReachError extends ForbiddenError {
  constructor(
    field: string,
    what: string,
    entitySpaceId: string,
    stackSpaceId: string,
  ) {
    super(
      `${field}: ${what} lives in space ${entitySpaceId}, which a stack in space ${stackSpaceId} cannot use; use one from the stack's space, or from an ancestor it inherits from (inheritEntities)`,
    );
  }
}
