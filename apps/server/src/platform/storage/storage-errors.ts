import { NotFoundError, UnavailableError } from "../errors.ts";

export class ObjectNotFoundError extends NotFoundError {
  constructor(bucket: string, key: string) {
    super(`object ${bucket}/${key} does not exist`);
  }
}

/** The backing store failed (network, 5xx, auth, missing bucket); callers may retry. */
export class StorageUnavailableError extends UnavailableError {}

/**
 * The StorageUnavailableError a driver throws for a failed call: the message names the
 * driver, the operation and the object (`object storage (s3): get run-logs/r1 failed:
 * connect ECONNREFUSED 127.0.0.1:9000`), and the original error is the cause.
 */
export function storageUnavailable(
  driver: string,
  operation: string,
  target: string,
  cause: unknown,
): StorageUnavailableError {
  return new StorageUnavailableError(
    `object storage (${driver}): ${operation} ${target} failed: ${describeCause(cause)}`,
    { cause },
  );
}

/**
 * Runs one driver call and turns any failure other than a not-found (or an error that
 * is already a StorageUnavailableError) into `storageUnavailable(driver, ...)`.
 */
export function storageCall(driver: string) {
  return async <T>(
    operation: string,
    target: string,
    fn: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (
        err instanceof ObjectNotFoundError ||
        err instanceof StorageUnavailableError
      )
        throw err;
      throw storageUnavailable(driver, operation, target, err);
    }
  };
}

function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts: string[] = [];
  const e = err as Error & { code?: unknown; name: string };
  // AWS SDK errors: name is the S3 code ("AccessDenied"), message may be empty or "UnknownError".
  if (e.name && e.name !== "Error" && !e.message.includes(e.name))
    parts.push(e.name);
  if (e.message) parts.push(e.message);
  else if (typeof e.code === "string") parts.push(e.code);
  // Node's fetch hides the socket error ("fetch failed") in its cause.
  const inner = (err as { cause?: unknown }).cause;
  if (inner instanceof Error && inner.message && inner.message !== e.message)
    parts.push(`(${inner.message})`);
  // AggregateError from a dual-stack connect: the first underlying error says enough.
  if (err instanceof AggregateError && err.errors[0] instanceof Error)
    parts.push(`(${(err.errors[0] as Error).message})`);
  return parts.join(": ") || "unknown error";
}
