import type { Kysely } from "kysely";

/**
 * What the Drain needs from a queue, in SQS terms, so that an SQS backend can replace
 * the Postgres one (MESSAGE_QUEUE_TYPE=sqs) without touching the Drain or the handlers.
 *
 * Contract:
 * - `claim` receives up to `limit` visible messages and hides each for the visibility
 *   timeout (SQS ReceiveMessage). A message received `maxReceives` times without being
 *   acked or nacked is moved to the dead letters instead of being delivered again
 *   (SQS maxReceiveCount); those are reported in `deadLettered`.
 * - Every later call names the message by the receive it came from (`receiveCount` is
 *   the fence, like an SQS receipt handle): once someone else has received the message
 *   again, calls from the earlier receive do nothing and return false.
 * - In a FIFO group, at most one message is in flight at a time, in enqueue order.
 */
export interface QueueBackend {
  /** Enqueues on `db`, which may be a transaction (an SQS backend would use an outbox). */
  enqueue(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    db: Kysely<any>,
    message: OutgoingMessage,
  ): Promise<void>;
  claim(opts: ClaimOptions): Promise<ClaimResult>;
  /** Payload of a received message (fetches it from the large-messages bucket if needed). */
  loadPayload(message: ReceivedMessage): Promise<unknown>;
  /** Hides the message for another `visibilityTimeoutMs` (SQS ChangeMessageVisibility). */
  extend(
    message: ReceivedMessage,
    visibilityTimeoutMs: number,
  ): Promise<boolean>;
  /** Done: deletes the message (SQS DeleteMessage). */
  ack(message: ReceivedMessage): Promise<boolean>;
  /** Failed, retry: visible again after `delayMs`, remembering the error. */
  nack(
    message: ReceivedMessage,
    opts: { delayMs: number; error: string },
  ): Promise<boolean>;
  /** Failed for good: moves the message to the dead letters with a reason. */
  deadLetter(
    message: ReceivedMessage,
    opts: { reason: string; error?: string },
  ): Promise<boolean>;
}

export interface OutgoingMessage {
  name: string;
  payload: unknown;
  groupKey?: string;
  dedupKey?: string;
  priority?: number;
  visibleAt?: Date;
  maxReceives?: number;
}

export interface ClaimOptions {
  limit: number;
  visibilityTimeoutMs: number;
  /** Only messages with these names (the drain's catalog); other drains take the rest. */
  names: string[];
  /** Per-name receive limits that override the message's own `maxReceives`. */
  maxReceivesByName?: Record<string, number>;
}

export interface ReceivedMessage {
  id: string;
  name: string;
  /** Inline payload; null when it lives in the large-messages bucket (`payloadObject`). */
  payload: unknown;
  payloadObject: string | null;
  groupKey: string | null;
  /** 1 on the first delivery. */
  receiveCount: number;
  maxReceives: number;
  lastError: string | null;
}

export interface ClaimResult {
  messages: ReceivedMessage[];
  deadLettered: ReceivedMessage[];
}
