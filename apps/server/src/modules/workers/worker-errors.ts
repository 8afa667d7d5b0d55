import { ConflictError, NotFoundError } from "../../platform/errors.ts";

export class WorkerPoolNotFoundError extends NotFoundError {
  constructor(readonly poolId: string) {
    super(`worker pool ${poolId} does not exist`);
  }
}

export class WorkerNotFoundError extends NotFoundError {
  constructor(
    readonly poolId: string,
    readonly workerId: string,
  ) {
    super(`worker ${workerId} does not exist in pool ${poolId}`);
  }
}

/** A pool still in use (stacks attached, runs not ended, or the default pool) is kept. */
export class WorkerPoolInUseError extends ConflictError {
  constructor(
    readonly poolId: string,
    reason: string,
  ) {
    super(`worker pool ${poolId} cannot be deleted: ${reason}`);
  }
}
