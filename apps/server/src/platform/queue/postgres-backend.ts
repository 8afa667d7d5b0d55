import { randomUUID } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type pg from "pg";
import type { Logger } from "../log/logger.ts";
import {
  MAX_INLINE_PAYLOAD_BYTES,
  PayloadTooLargeError,
  type LargeMessageStore,
} from "./large-messages.ts";
import type {
  ClaimOptions,
  ClaimResult,
  OutgoingMessage,
  QueueBackend,
  ReceivedMessage,
} from "./queue-backend.ts";

/** Used when neither the enqueue nor the job definition sets a limit (SQS maxReceiveCount). */
export const DEFAULT_MAX_RECEIVES = 3;

const COLUMNS =
  "id, name, payload, payload_object, group_key, dedup_key, priority, receive_count, max_receives, created_at";
/** COLUMNS read from a `queue_messages` row for its dead letter (the key as enqueued). */
const DEAD_LETTER_VALUES =
  "id, name, payload, payload_object, group_key, coalesce(dedup_key, claimed_dedup_key), priority, receive_count, max_receives, created_at";

/**
 * One statement: lock up to $2 visible messages with SKIP LOCKED, dead-letter those
 * already received as often as allowed, hide the rest for the visibility timeout and
 * count the receive.
 *
 * Concurrency: SKIP LOCKED makes concurrent claimers take disjoint rows without waiting.
 * A row another claimer hid and committed meanwhile fails the `visible_at` recheck that
 * Postgres runs on the locked row, so it is not received twice. FIFO: only a group's
 * oldest message is eligible; it stays in the table while in flight, so the group's
 * next message is not eligible until it is acked or dead-lettered (its deletion is what
 * makes the next one the oldest).
 *
 * Dedup: a received message gives up its `dedup_key` (kept in `claimed_dedup_key`), so
 * an enqueue with the same key while it is in flight creates a new pending message. A
 * request is therefore never dropped because the only copy is held by a consumer that
 * may be dead or may already have read the data the request is about.
 */
const CLAIM_SQL = `
WITH picked AS (
  SELECT m.id, coalesce(($3::jsonb ->> m.name)::int, m.max_receives) AS max_receives
  FROM queue_messages m
  WHERE m.visible_at <= now()
    AND m.name = ANY ($1::text[])
    AND (m.group_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM queue_messages o WHERE o.group_key = m.group_key AND o.id < m.id))
  ORDER BY m.priority, m.id
  LIMIT $2
  FOR UPDATE OF m SKIP LOCKED
),
dead AS (
  DELETE FROM queue_messages m USING picked p
  WHERE m.id = p.id AND m.receive_count >= p.max_receives
  RETURNING m.*, p.max_receives AS effective_max_receives
),
buried AS (
  INSERT INTO queue_dead_letters (${COLUMNS}, last_error, reason)
  SELECT ${DEAD_LETTER_VALUES}, last_error,
         'received ' || receive_count || ' times without being acknowledged (limit ' || effective_max_receives || ')'
  FROM dead
),
claimed AS (
  UPDATE queue_messages m
  SET visible_at = now() + $4::int * interval '1 millisecond', receive_count = m.receive_count + 1,
      dedup_key = NULL, claimed_dedup_key = coalesce(m.dedup_key, m.claimed_dedup_key)
  FROM picked p
  WHERE m.id = p.id AND m.receive_count < p.max_receives
  RETURNING m.*, p.max_receives AS effective_max_receives
)
SELECT false AS dead, * FROM claimed
UNION ALL
SELECT true AS dead, * FROM dead
ORDER BY dead, priority, id`;

const DEAD_LETTER_SQL = `
WITH dead AS (
  DELETE FROM queue_messages WHERE id = $1 AND receive_count = $2 RETURNING *
)
INSERT INTO queue_dead_letters (${COLUMNS}, last_error, reason)
SELECT ${DEAD_LETTER_VALUES}, coalesce($4, last_error), $3 FROM dead`;

interface MessageRow {
  dead: boolean;
  id: number | string;
  name: string;
  payload: unknown;
  payload_object: string | null;
  group_key: string | null;
  receive_count: number;
  effective_max_receives: number;
  last_error: string | null;
}

/**
 * The built-in backend: `queue_messages` and `queue_dead_letters` (migration
 * 0003_queue.sql). Producers write with Kysely inside their own transaction; drains
 * claim and settle through `pgPool`, each call in its own short transaction.
 */
export class PostgresQueueBackend implements QueueBackend {
  constructor(
    private readonly opts: {
      pgPool: pg.Pool;
      /** Where payloads over MAX_INLINE_PAYLOAD_BYTES go; null: they are refused. */
      largeMessages: LargeMessageStore | null;
      log?: Logger;
    },
  ) {}

  private get large(): LargeMessageStore | null {
    return this.opts.largeMessages;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async enqueue(db: Kysely<any>, message: OutgoingMessage): Promise<void> {
    await insertMessage(db, message, this.large);
  }

  async claim(opts: ClaimOptions): Promise<ClaimResult> {
    if (opts.limit <= 0 || opts.names.length === 0)
      return { messages: [], deadLettered: [] };
    const { rows } = await this.opts.pgPool.query<MessageRow>(CLAIM_SQL, [
      opts.names,
      opts.limit,
      JSON.stringify(opts.maxReceivesByName ?? {}),
      Math.ceil(opts.visibilityTimeoutMs),
    ]);
    const result: ClaimResult = { messages: [], deadLettered: [] };
    for (const row of rows)
      (row.dead ? result.deadLettered : result.messages).push(toMessage(row));
    return result;
  }

  async loadPayload(message: ReceivedMessage): Promise<unknown> {
    if (message.payloadObject === null) return message.payload;
    const large = this.large;
    if (!large)
      throw new Error(
        `message ${message.id} has its payload in object storage, but no store is configured`,
      );
    const body = await large.store.get(large.bucket, message.payloadObject);
    return JSON.parse(body.toString("utf8"));
  }

  async extend(
    message: ReceivedMessage,
    visibilityTimeoutMs: number,
  ): Promise<boolean> {
    const { rowCount } = await this.opts.pgPool.query(
      `UPDATE queue_messages SET visible_at = now() + $3::int * interval '1 millisecond'
       WHERE id = $1 AND receive_count = $2`,
      [message.id, message.receiveCount, Math.ceil(visibilityTimeoutMs)],
    );
    return rowCount === 1;
  }

  async ack(message: ReceivedMessage): Promise<boolean> {
    const { rowCount } = await this.opts.pgPool.query(
      "DELETE FROM queue_messages WHERE id = $1 AND receive_count = $2",
      [message.id, message.receiveCount],
    );
    if (rowCount !== 1) return false;
    if (message.payloadObject !== null) await this.deleteObject(message);
    return true;
  }

  async nack(
    message: ReceivedMessage,
    opts: { delayMs: number; error: string },
  ): Promise<boolean> {
    const { rowCount } = await this.opts.pgPool.query(
      `UPDATE queue_messages SET visible_at = now() + $3::int * interval '1 millisecond', last_error = $4
       WHERE id = $1 AND receive_count = $2`,
      [
        message.id,
        message.receiveCount,
        Math.max(0, Math.ceil(opts.delayMs)),
        opts.error,
      ],
    );
    return rowCount === 1;
  }

  /**
   * The dead letter keeps `payload_object`, and the object stays in the bucket (until
   * its retention expires) so the dead letter can be inspected or redriven.
   */
  async deadLetter(
    message: ReceivedMessage,
    opts: { reason: string; error?: string },
  ): Promise<boolean> {
    const { rowCount } = await this.opts.pgPool.query(DEAD_LETTER_SQL, [
      message.id,
      message.receiveCount,
      opts.reason,
      opts.error ?? null,
    ]);
    return rowCount === 1;
  }

  private async deleteObject(message: ReceivedMessage): Promise<void> {
    const large = this.large;
    if (!large || message.payloadObject === null) return;
    try {
      await large.store.delete(large.bucket, message.payloadObject);
    } catch (err) {
      // The message is already gone; the bucket's retention removes the object later.
      this.opts.log?.warn(
        {
          err,
          job: message.name,
          jobId: message.id,
          object: message.payloadObject,
        },
        "could not delete a large message payload",
      );
    }
  }
}

/**
 * Inserts one message on `db` (a transaction or not). A payload JSON over 256 KiB is
 * first written to the large-messages bucket; if the insert turns out to be a duplicate
 * (`dedupKey` of a live message) the object is deleted again.
 */
export async function insertMessage(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  message: OutgoingMessage,
  large: LargeMessageStore | null,
): Promise<void> {
  const json = JSON.stringify(message.payload ?? {});
  let payloadObject: string | null = null;
  const size = Buffer.byteLength(json, "utf8");
  if (size > MAX_INLINE_PAYLOAD_BYTES) {
    if (!large) {
      throw new PayloadTooLargeError(
        `job ${message.name}: payload is ${size} bytes, over the ${MAX_INLINE_PAYLOAD_BYTES}-byte queue limit, and no large-messages bucket is configured`,
      );
    }
    payloadObject = `${message.name}/${randomUUID()}.json`;
    await large.store.put(large.bucket, payloadObject, json);
  }
  const { rows } = await sql<{ id: number | string }>`
    INSERT INTO queue_messages (name, payload, payload_object, group_key, dedup_key, priority, visible_at, max_receives)
    VALUES (
      ${message.name},
      ${payloadObject === null ? json : null}::jsonb,
      ${payloadObject},
      ${message.groupKey ?? null},
      ${message.dedupKey ?? null},
      ${message.priority ?? 0},
      coalesce(${message.visibleAt ?? null}::timestamptz, now()),
      ${message.maxReceives ?? DEFAULT_MAX_RECEIVES}
    )
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING id`.execute(db);
  if (rows.length === 0 && payloadObject !== null && large)
    await large.store.delete(large.bucket, payloadObject);
}

function toMessage(row: MessageRow): ReceivedMessage {
  return {
    id: String(row.id),
    name: row.name,
    payload: row.payload,
    payloadObject: row.payload_object,
    groupKey: row.group_key,
    receiveCount: row.receive_count,
    maxReceives: row.effective_max_receives,
    lastError: row.last_error,
  };
}
