import type { Kysely } from "kysely";
import type { z } from "zod";
import type { Logger } from "../log/logger.ts";
import type { LargeMessageStore } from "./large-messages.ts";
import { insertMessage } from "./postgres-backend.ts";

/**
 * The built-in queue: SQS semantics on Postgres (tables `queue_messages` and
 * `queue_dead_letters`, migration 0003_queue.sql). Producers enqueue inside their own
 * transaction, so a domain write and the job it causes commit or roll back together.
 *
 * Semantics (docs/queue.md describes the same rules):
 * - Receive: a drain claims visible messages with `FOR UPDATE SKIP LOCKED` (priority,
 *   then age), hides each for the visibility timeout and increments `receive_count`.
 *   While a handler runs, the drain extends the visibility (heartbeat), so a live
 *   handler keeps its message however long it takes.
 * - Ack: success deletes the message. A thrown error makes it visible again after a
 *   backoff of min(2^receives s, 60 s); on the last allowed receive it goes to
 *   `queue_dead_letters` with the error instead. PermanentJobError, or a payload that
 *   fails its schema, dead-letters it at once.
 * - Max receives: 3 by default (SQS maxReceiveCount); a job definition's `maxAttempts`
 *   overrides the per-message `maxAttempts` given to enqueue. A message whose drain died
 *   (no ack, no nack) reappears when its visibility timeout ends; received again after
 *   reaching the limit, it goes to the dead letters instead of being delivered.
 * - At-least-once: a crashed or partitioned drain means the same message is delivered
 *   again, possibly while the first handler is still finishing. Handlers must be
 *   idempotent: make the effect conditional on state (`... on conflict do nothing`,
 *   compare-and-set on a version) in the same transaction as the effect itself.
 * - FIFO groups (`queue`): only a group's oldest message can be received, so the group
 *   runs one message at a time, in enqueue order; a failing message holds the group up
 *   until it succeeds or is dead-lettered.
 * - Dedup (`jobKey`): enqueuing a key that a pending message (not yet received) holds
 *   is a no-op. A received message gives its key up, so a request made while the only
 *   copy is in flight (its consumer may be dead, or may have read its data already)
 *   enqueues a new message: bursts coalesce into one pending message, and no request
 *   waits for a dead consumer's visibility timeout (migration 0018).
 * - Wake-up: an insert trigger does `pg_notify('stackyard_queue')` (delivered on
 *   commit); drains LISTEN for it to claim early and poll regardless.
 * - Large payloads: JSON over 256 KiB is stored in the large-queue-messages bucket and
 *   the row holds the key (see large-messages.ts).
 * - MESSAGE_QUEUE_TYPE=sqs (sqs/): SQS cannot take part in a Postgres transaction, so
 *   `queue_messages` becomes an OUTBOX. `enqueue` is unchanged (the row commits or rolls
 *   back with the caller's transaction); the drain role's relay sends committed, due rows
 *   to SQS, then deletes them, and drains receive from SQS. Delivery stays at-least-once
 *   (a relay crash between send and delete sends a row twice). What SQS changes (priority,
 *   dedup window, redrive) is listed in sqs/sqs-backend.ts.
 */
export interface JobDefinition<T = unknown> {
  schema: z.ZodType<T>;
  handler: (payload: T, ctx: JobContext) => Promise<void>;
  /** Receives allowed before the message is dead-lettered; overrides the message's own. */
  maxAttempts?: number;
  /**
   * Set when a database trigger, not `enqueue`, inserts the job's messages: the trigger's
   * name and table and the migration defining it. A trigger enqueues in the transaction
   * of the row it fires on whatever code writes that row, and a FIFO group per entity
   * keeps its messages in write order. roles/drain-catalog.db.test.ts holds every
   * trigger inserting into `queue_messages` to a catalog entry declaring it.
   */
  enqueuedBy?: SqlTriggerProducer;
}

export interface SqlTriggerProducer {
  trigger: string;
  table: string;
  migration: string;
}

export interface JobContext {
  /** The message id; stable across redeliveries, so it can key an idempotency marker. */
  jobId: string;
  /** 1 on the first delivery (the message's receive count). */
  attempt: number;
  log: Logger;
}

// Handlers are contravariant in their payload; the catalog is checked per entry by
// `defineJob`, so the map itself erases the payload type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JobCatalog = Record<string, JobDefinition<any>>;

export function defineJob<T>(
  schema: z.ZodType<T>,
  handler: (payload: T, ctx: JobContext) => Promise<void>,
  opts: { maxAttempts?: number; enqueuedBy?: SqlTriggerProducer } = {},
): JobDefinition<T> {
  return { schema, handler, ...opts };
}

/** Throw from a handler to dead-letter a job without retrying (bad input, impossible state). */
export class PermanentJobError extends Error {}

export interface EnqueueOptions {
  /** FIFO group: jobs with the same queue name run one at a time, in order. */
  queue?: string;
  /** Not visible before this time. */
  runAt?: Date;
  /** Receives before dead-lettering (default 3), unless the job definition sets its own. */
  maxAttempts?: number;
  /** Deduplication key: enqueuing a key a pending (not yet received) job holds does nothing. */
  jobKey?: string;
  /** Lower runs first; default 0. */
  priority?: number;
}

export const JOB_NAME_PATTERN = /^[a-z][a-zA-Z]*\.[a-z][a-zA-Z]*$/;

/**
 * Enqueues on `db`, which may be a transaction: the job exists only if it commits. A
 * payload over MAX_INLINE_PAYLOAD_BYTES goes to the large-messages store the enqueue was
 * made with (`createEnqueue`); without one it throws PayloadTooLargeError.
 */
export type Enqueue = (
  // Any Kysely handle or transaction; the SQL touches only the queue's own table.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  name: string,
  payload: unknown,
  opts?: EnqueueOptions,
) => Promise<void>;

/**
 * The enqueue of producers whose payloads have no size bound (webhook deliveries, push
 * events): the composition root makes one with its large-messages bucket and hands it to
 * them.
 */
export function createEnqueue(large: LargeMessageStore | null): Enqueue {
  return async (db, name, payload, opts = {}) => {
    if (!JOB_NAME_PATTERN.test(name))
      throw new Error(`job name ${name} must look like <module>.<verb>`);
    if (
      opts.maxAttempts !== undefined &&
      !(Number.isInteger(opts.maxAttempts) && opts.maxAttempts >= 1)
    ) {
      throw new Error(`job ${name}: maxAttempts must be a positive integer`);
    }
    await insertMessage(
      db,
      {
        name,
        payload,
        groupKey: opts.queue,
        dedupKey: opts.jobKey,
        priority: opts.priority,
        visibleAt: opts.runAt,
        maxReceives: opts.maxAttempts,
      },
      large,
    );
  };
}

/**
 * Enqueue for payloads of bounded size (ids, small records; far below the 256 KiB
 * limit), which need no object storage: an oversize payload throws
 * PayloadTooLargeError.
 */
export const enqueue: Enqueue = createEnqueue(null);
