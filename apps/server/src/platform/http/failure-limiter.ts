import { RateLimitedError } from "../errors.ts";

export interface FailureLimiterOptions {
  /** What is limited, for the error message ("API key logins"). */
  what: string;
  /** Failures a key may have within one window; the next attempt is refused. */
  maxFailures: number;
  windowMs: number;
  /** Keys tracked at most; beyond it the oldest windows are forgotten (memory bound). */
  maxKeys?: number;
  now?: () => number;
}

/**
 * Counts failed logins per key (the client address) in fixed windows, for login paths
 * that @fastify/rate-limit's per-route counting does not fit: a GraphQL mutation among
 * other operations, and the state backend, where only failures should count (a CI job
 * with a valid key calls it on every plan). `check` before the attempt throws
 * RateLimitedError once `maxFailures` failures fell in the current window; `fail` after a
 * failed attempt. Success does not reset the count, so guessing between two valid logins
 * gains nothing.
 *
 * Per process: N API processes allow N times the limit, which still bounds guessing.
 */
export function createFailureLimiter(opts: FailureLimiterOptions) {
  const maxKeys = opts.maxKeys ?? 10_000;
  const now = opts.now ?? Date.now;
  // Insertion order = window start order, so the first entries are the oldest.
  const windows = new Map<string, { startedAt: number; failures: number }>();

  const current = (key: string) => {
    const w = windows.get(key);
    if (w && now() - w.startedAt < opts.windowMs) return w;
    if (w) windows.delete(key);
    return null;
  };

  return {
    check(key: string): void {
      const w = current(key);
      if (!w || w.failures < opts.maxFailures) return;
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil((w.startedAt + opts.windowMs - now()) / 1000),
      );
      throw new RateLimitedError(
        `too many failed ${opts.what} from this address; try again in ${retryAfterSeconds} s`,
        retryAfterSeconds,
      );
    },

    fail(key: string): void {
      const w = current(key);
      if (w) {
        w.failures += 1;
        return;
      }
      while (windows.size >= maxKeys) {
        const oldest = windows.keys().next().value;
        if (oldest === undefined) break;
        windows.delete(oldest);
      }
      windows.set(key, { startedAt: now(), failures: 1 });
    },
  };
}

export type FailureLimiter = ReturnType<typeof createFailureLimiter>;
