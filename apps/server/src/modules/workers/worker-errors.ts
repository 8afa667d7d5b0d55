import { NotFoundError } from "../../platform/errors.ts";

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
