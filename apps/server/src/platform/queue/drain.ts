import pg from "pg";
import type { Logger } from "../log/logger.ts";
import { NotFoundError } from "../errors.ts";
import type { LargeMessageStore } from "./large-messages.ts";
import { PostgresQueueBackend } from "./postgres-backend.ts";
import type { QueueBackend, ReceivedMessage } from "./queue-backend.ts";
import {
  PermanentJobError,
  type JobCatalog,
  type JobDefinition,
} from "./queue.ts";

/** The channel the `queue_messages` insert trigger notifies. */
export const QUEUE_CHANNEL = "stackyard_queue";

export interface DrainOptions {
  pgPool: pg.Pool;
  catalog: JobCatalog;
  /** Handlers running at once in this drain. */
  concurrency: number;
  /** Claim at least this often; LISTEN/NOTIFY only makes it sooner. */
  pollIntervalMs: number;
  log: Logger;
  /** How long a received message stays hidden; heartbeats extend it. Default 300 s. */
  visibilityTimeoutMs?: number;
  /** Delay before a failed message is visible again. Default min(2^receiveCount s, 60 s). */
  retryDelayMs?: (receiveCount: number) => number;
  /** How long `stop()` waits for running handlers. Default 30 s. */
  stopTimeoutMs?: number;
  /**
   * Where oversize payloads are read from (the composition root's large-messages
   * bucket); null: a message whose payload lives in object storage cannot be read.
   * Needed only without `backend` (a given backend has its own).
   */
  largeMessages?: LargeMessageStore | null;
  /** Default: the Postgres backend over `pgPool`. */
  backend?: QueueBackend;
  /** LISTEN for enqueue notifications (default true). */
  listen?: boolean;
}

const DEFAULT_VISIBILITY_TIMEOUT_MS = 300_000;
const DEFAULT_STOP_TIMEOUT_MS = 30_000;
const MAX_RECONNECT_DELAY_MS = 30_000;

export function defaultRetryDelayMs(receiveCount: number): number {
  return Math.min(2 ** receiveCount * 1000, 60_000);
}

/**
 * Consumes the queue: a claim loop fills up to `concurrency` handler slots, waking on a
 * NOTIFY, a finished handler, or the poll interval, whichever comes first. Every
 * payload is validated against its catalog schema before its handler runs, and every
 * log line carries the job name, id and attempt.
 *
 * Only messages whose names are in this drain's catalog are claimed, so drains of
 * different versions can share the queue during a rolling upgrade.
 *
 * While a handler runs, a heartbeat extends its message's visibility every third of the
 * timeout. If the process dies, the heartbeat stops and the message is redelivered when
 * the visibility timeout ends. If a heartbeat finds the message received by someone
 * else (the drain was partitioned longer than the timeout), the handler keeps running
 * and its ack is ignored; idempotent handlers make the duplicate harmless.
 *
 * The LISTEN connection is a dedicated client outside the pool. When it drops, the
 * drain reconnects with backoff and keeps polling meanwhile.
 */
export class Drain {
  private readonly backend: QueueBackend;
  private readonly visibilityTimeoutMs: number;
  private readonly log: Logger;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly heartbeats = new Set<NodeJS.Timeout>();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private woken = false;
  private wakeSleeper: (() => void) | null = null;
  private listener: pg.Client | null = null;
  private listenFailures = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: DrainOptions) {
    if (!(opts.concurrency >= 1))
      throw new Error("drain concurrency must be at least 1");
    this.log = opts.log.child({ component: "queue" });
    this.visibilityTimeoutMs =
      opts.visibilityTimeoutMs ?? DEFAULT_VISIBILITY_TIMEOUT_MS;
    this.backend =
      opts.backend ??
      new PostgresQueueBackend({
        pgPool: opts.pgPool,
        largeMessages: opts.largeMessages ?? null,
        log: this.log,
      });
  }

  async start(): Promise<void> {
    if (this.loop) throw new Error("the drain is already running");
    this.stopping = false;
    if (this.opts.listen !== false) await this.connectListener();
    this.loop = this.run();
  }

  /**
   * Stops claiming, waits up to `stopTimeoutMs` for running handlers to settle, then
   * closes the LISTEN connection. Handlers still running after that keep their messages
   * only until the visibility timeout (their heartbeats stop), then the messages are
   * redelivered.
   */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = null;
    const running = [...this.inFlight];
    if (running.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.allSettled(running).then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(
            () => resolve(true),
            this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
          );
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        for (const hb of this.heartbeats) clearInterval(hb);
        this.heartbeats.clear();
        this.log.warn(
          { running: this.inFlight.size },
          "stopped with handlers still running; their messages are redelivered after the visibility timeout",
        );
      }
    }
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const listener = this.listener;
    this.listener = null;
    if (listener)
      await listener
        .end()
        .catch((err: unknown) =>
          this.log.debug({ err }, "closing the LISTEN connection failed"),
        );
  }

  private async run(): Promise<void> {
    const { catalog, concurrency, pollIntervalMs } = this.opts;
    const names = Object.keys(catalog);
    const maxReceivesByName: Record<string, number> = {};
    for (const [name, def] of Object.entries(catalog))
      if (def.maxAttempts !== undefined)
        maxReceivesByName[name] = def.maxAttempts;
    let failures = 0;
    while (!this.stopping) {
      const free = concurrency - this.inFlight.size;
      let more = false;
      if (free > 0) {
        try {
          const { messages, deadLettered } = await this.backend.claim({
            limit: free,
            visibilityTimeoutMs: this.visibilityTimeoutMs,
            names,
            maxReceivesByName,
          });
          failures = 0;
          for (const m of deadLettered) {
            this.log.error(
              {
                job: m.name,
                jobId: m.id,
                attempt: m.receiveCount,
                lastError: m.lastError,
              },
              "job dead-lettered: received as often as allowed without being acknowledged",
            );
          }
          for (const m of messages) this.dispatch(m);
          more = messages.length + deadLettered.length === free;
        } catch (err) {
          failures++;
          this.log.warn({ err }, "claiming queue messages failed; will retry");
        }
      }
      if (this.stopping) break;
      if (!more)
        await this.sleep(
          failures > 0
            ? Math.min(pollIntervalMs * 2 ** (failures - 1), 30_000)
            : pollIntervalMs,
        );
    }
  }

  private dispatch(message: ReceivedMessage): void {
    const done: Promise<void> = this.process(message).finally(() => {
      this.inFlight.delete(done);
      this.wake();
    });
    this.inFlight.add(done);
  }

  private async process(message: ReceivedMessage): Promise<void> {
    const def = this.opts.catalog[message.name] as JobDefinition | undefined;
    const log = this.log.child({
      job: message.name,
      jobId: message.id,
      attempt: message.receiveCount,
    });
    try {
      if (!def) {
        await this.deadLetter(message, log, {
          reason: `no handler for job ${message.name}`,
        });
        return;
      }
      const stopHeartbeat = this.startHeartbeat(message, log);
      let outcome: { ok: true } | { ok: false; err: unknown };
      let payload: unknown;
      try {
        payload = await this.backend.loadPayload(message);
      } catch (err) {
        stopHeartbeat();
        // A NotFoundError here is the payload object missing from the store.
        if (err instanceof NotFoundError || err instanceof SyntaxError) {
          await this.deadLetter(message, log, {
            reason: "payload object is missing or unreadable",
            error: errorText(err),
          });
        } else {
          await this.retry(message, log, err);
        }
        return;
      }
      const parsed = def.schema.safeParse(payload);
      if (!parsed.success) {
        stopHeartbeat();
        const issues = parsed.error.issues
          .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
          .join("; ");
        await this.deadLetter(message, log, {
          reason: `payload failed validation: ${issues}`,
        });
        return;
      }
      try {
        await def.handler(parsed.data, {
          jobId: message.id,
          attempt: message.receiveCount,
          log,
        });
        outcome = { ok: true };
      } catch (err) {
        outcome = { ok: false, err };
      } finally {
        stopHeartbeat();
      }
      if (outcome.ok) {
        if (!(await this.backend.ack(message)))
          log.warn(
            "job finished, but its message was received again meanwhile",
          );
        else log.debug("job done");
      } else if (outcome.err instanceof PermanentJobError) {
        await this.deadLetter(
          message,
          log,
          { reason: "permanent failure", error: errorText(outcome.err) },
          outcome.err,
        );
      } else {
        await this.retry(message, log, outcome.err);
      }
    } catch (err) {
      log.error(
        { err },
        "could not settle the job; its message is redelivered after the visibility timeout",
      );
    }
  }

  private async retry(
    message: ReceivedMessage,
    log: Logger,
    err: unknown,
  ): Promise<void> {
    if (message.receiveCount >= message.maxReceives) {
      await this.deadLetter(
        message,
        log,
        {
          reason: `failed on all ${message.maxReceives} allowed receives`,
          error: errorText(err),
        },
        err,
      );
      return;
    }
    const delayMs = (this.opts.retryDelayMs ?? defaultRetryDelayMs)(
      message.receiveCount,
    );
    if (await this.backend.nack(message, { delayMs, error: errorText(err) })) {
      log.warn({ err, retryInMs: delayMs }, "job failed; it will be retried");
    } else {
      log.warn(
        { err },
        "job failed, and its message was received again meanwhile",
      );
    }
  }

  private async deadLetter(
    message: ReceivedMessage,
    log: Logger,
    opts: { reason: string; error?: string },
    err?: unknown,
  ): Promise<void> {
    if (await this.backend.deadLetter(message, opts))
      log.error({ err, reason: opts.reason }, "job dead-lettered");
    else
      log.warn(
        { err, reason: opts.reason },
        "job failed, and its message was received again meanwhile",
      );
  }

  /** Extends the message's visibility every third of the timeout until stopped. */
  private startHeartbeat(message: ReceivedMessage, log: Logger): () => void {
    let busy = false;
    const timer = setInterval(
      () => {
        if (busy) return;
        busy = true;
        this.backend
          .extend(message, this.visibilityTimeoutMs)
          .then((held) => {
            if (!held && this.heartbeats.delete(timer)) {
              clearInterval(timer);
              log.warn(
                "lost the message: it was received again elsewhere; this run's result is ignored",
              );
            }
          })
          .catch((err: unknown) =>
            log.warn(
              { err },
              "extending the message's visibility failed; will retry",
            ),
          )
          .finally(() => {
            busy = false;
          });
      },
      Math.max(this.visibilityTimeoutMs / 3, 10),
    );
    this.heartbeats.add(timer);
    return () => {
      clearInterval(timer);
      this.heartbeats.delete(timer);
    };
  }

  private wake(): void {
    this.woken = true;
    this.wakeSleeper?.();
  }

  private async sleep(ms: number): Promise<void> {
    if (!this.woken) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wakeSleeper?.(), ms);
        this.wakeSleeper = () => {
          clearTimeout(timer);
          this.wakeSleeper = null;
          resolve();
        };
      });
    }
    this.woken = false;
  }

  private async connectListener(): Promise<void> {
    if (this.stopping) return;
    const client = new pg.Client({
      ...this.opts.pgPool.options,
      application_name: "stackyard-queue-listen",
    });
    client.on("notification", () => this.wake());
    client.on("error", (err) => this.listenerLost(client, err));
    client.on("end", () => this.listenerLost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${QUEUE_CHANNEL}`);
    } catch (err) {
      this.log.warn(
        { err },
        "could not LISTEN for queue notifications; polling meanwhile",
      );
      await client
        .end()
        .catch((endErr: unknown) =>
          this.log.debug(
            { err: endErr },
            "closing a failed LISTEN connection failed",
          ),
        );
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) {
      await client.end();
      return;
    }
    if (this.listenFailures > 0) this.log.info("LISTEN connection restored");
    this.listener = client;
    this.listenFailures = 0;
    // Anything enqueued while we were not listening is claimed now, not at the next poll.
    this.wake();
  }

  private listenerLost(client: pg.Client, err?: Error): void {
    if (this.listener !== client) return;
    this.listener = null;
    if (this.stopping) return;
    this.log.warn(
      { err },
      "lost the LISTEN connection; polling until it is back",
    );
    client
      .end()
      .catch((endErr: unknown) =>
        this.log.debug(
          { err: endErr },
          "closing the lost LISTEN connection failed",
        ),
      );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = Math.min(
      1000 * 2 ** this.listenFailures,
      MAX_RECONNECT_DELAY_MS,
    );
    this.listenFailures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connectListener();
    }, delay);
    this.reconnectTimer.unref();
  }
}

function errorText(err: unknown): string {
  const text =
    err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 10_000 ? `${text.slice(0, 10_000)}…` : text;
}
