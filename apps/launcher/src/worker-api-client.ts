import {
  stringifyExact,
  WORKER_API_PREFIX,
  type RunEvent,
  type PlanDocumentUpload,
  type RunLogChunk,
} from "@stackyard/protocol";
import type { Logger } from "./log.ts";

export interface RetryPolicy {
  /** First delay between attempts; doubles up to maxDelayMs. Default 250 ms. */
  initialDelayMs: number;
  /** Default 5 s. */
  maxDelayMs: number;
  /** A request gives up once this much time has passed since its first attempt. Default 2 min. */
  maxTotalMs: number;
  /** One attempt's timeout, so a hung connection cannot stall a run. Default 30 s. */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 5000,
  maxTotalMs: 120_000,
  attemptTimeoutMs: 30_000,
};

export interface WorkerApiClientOptions {
  /** `run.assign`'s apiUrl: the server's public base URL. */
  apiUrl: string;
  runId: string;
  /** `run.assign`'s runToken. */
  runToken: string;
  log: Logger;
  retry?: Partial<RetryPolicy>;
}

/**
 * A request the server refused (4xx other than 429: retrying cannot help), or one that
 * kept failing until the retry budget ran out (`status` is then the last one, or null
 * after network errors).
 */
export class WorkerApiError extends Error {
  override name = "WorkerApiError";
  constructor(
    message: string,
    readonly status: number | null,
    readonly retriesExhausted: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The request was abandoned through its signal. */
export class WorkerApiAbortedError extends Error {
  override name = "WorkerApiAbortedError";
}

/**
 * The launcher's side of the worker API (packages/protocol run-messages.ts): every
 * report of one run, authenticated with the run's bearer token.
 *
 * Every request is retried with exponential backoff (250 ms doubling to 5 s, for up to
 * 2 min) on network errors, timeouts, 5xx and 429, so a server restart loses nothing;
 * the server treats each report as idempotent, so a retry of a request whose answer
 * was lost is harmless. Any other 4xx stops at once with the server's message.
 */
export class WorkerApiClient {
  readonly #base: string;
  readonly #retry: RetryPolicy;

  constructor(private readonly opts: WorkerApiClientOptions) {
    this.#base = `${opts.apiUrl.replace(/\/+$/, "")}${WORKER_API_PREFIX}/${encodeURIComponent(opts.runId)}`;
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
  }

  postLogs(chunk: RunLogChunk): Promise<void> {
    return this.#send("POST", "logs", json(chunk)).then(() => undefined);
  }

  postEvent(event: RunEvent): Promise<void> {
    return this.#send("POST", "events", json(event)).then(() => undefined);
  }

  /** Stores the masked plan document of this assignment (replaces an earlier one). */
  putPlan(upload: PlanDocumentUpload): Promise<void> {
    return this.#send("PUT", "plan", json(upload)).then(() => undefined);
  }

  /** Stores the planned workspace: a sealed box (text). */
  putWorkspace(box: string): Promise<void> {
    return this.#send("PUT", "workspace", {
      body: box,
      contentType: "text/plain; charset=utf-8",
    }).then(() => undefined);
  }

  /** The planned workspace stored by the plan phase: a sealed box (text). */
  getWorkspace(signal?: AbortSignal): Promise<string> {
    return this.#send("GET", "workspace", null, signal);
  }

  async #send(
    method: string,
    route: string,
    payload: { body: string; contentType: string } | null,
    signal?: AbortSignal,
  ): Promise<string> {
    const url = `${this.#base}/${route}`;
    const what = `${method} ${route}`;
    const started = Date.now();
    let delay = this.#retry.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted)
        throw new WorkerApiAbortedError(`${what}: ${String(signal.reason)}`);
      let failure: string;
      let status: number | null = null;
      let retryAfterMs = 0;
      try {
        const res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.opts.runToken}`,
            ...(payload ? { "content-type": payload.contentType } : {}),
          },
          body: payload?.body ?? null,
          signal: signal
            ? AbortSignal.any([
                signal,
                AbortSignal.timeout(this.#retry.attemptTimeoutMs),
              ])
            : AbortSignal.timeout(this.#retry.attemptTimeoutMs),
        });
        const text = await res.text();
        if (res.ok) return text;
        status = res.status;
        failure = `HTTP ${res.status}: ${serverMessage(text) || res.statusText}`;
        if (res.status !== 429 && res.status < 500)
          throw new WorkerApiError(
            `${what} was refused: ${failure}`,
            status,
            false,
          );
        retryAfterMs = Number(res.headers.get("retry-after")) * 1000 || 0;
      } catch (err) {
        if (err instanceof WorkerApiError) {
          this.opts.log.error(
            { status: err.status, route, method },
            err.message,
          );
          throw err;
        }
        if (signal?.aborted)
          throw new WorkerApiAbortedError(`${what}: ${String(signal.reason)}`);
        failure = describeNetworkError(err);
      }

      const wait = Math.min(
        Math.max(delay, retryAfterMs),
        this.#retry.maxDelayMs,
      );
      if (Date.now() - started + wait > this.#retry.maxTotalMs) {
        const message = `${what} failed after ${attempt} attempts over ${Math.round((Date.now() - started) / 1000)} s: ${failure}`;
        this.opts.log.error({ route, method }, message);
        throw new WorkerApiError(message, status, true);
      }
      // One line per outage, then a reminder every 10 attempts.
      if (attempt === 1 || attempt % 10 === 0)
        this.opts.log.warn(
          { route, method, attempt, failure },
          "worker API request failed; retrying",
        );
      await sleep(wait, signal);
      delay = Math.min(delay * 2, this.#retry.maxDelayMs);
    }
  }
}

function json(body: unknown): { body: string; contentType: string } {
  return { body: stringifyExact(body), contentType: "application/json" };
}

/** `{ message }` or `{ error }` of a JSON error body, else the text itself (shortened). */
function serverMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON
  }
  return text.slice(0, 500);
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === "TimeoutError") return "the request timed out";
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
