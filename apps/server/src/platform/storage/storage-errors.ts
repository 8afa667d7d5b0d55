import { NotFoundError, UnavailableError } from "../errors.ts";

export class ObjectNotFoundError extends NotFoundError {
  constructor(bucket: string, key: string) {
    super(`object ${bucket}/${key} does not exist`);
  }
}

export class StorageUnavailableError extends UnavailableError {}
