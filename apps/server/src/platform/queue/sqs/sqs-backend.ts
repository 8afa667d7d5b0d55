import { createHash, randomUUID } from "node:crypto";
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import type { Kysely } from "kysely";
import type { Logger } from "../../log/logger.ts";
import { type LargeMessageStore } from "../large-messages.ts";
import { DEFAULT_MAX_RECEIVES, insertMessage } from "../postgres-backend.ts";
import type {
  ClaimOptions,
  ClaimResult,
  OutgoingMessage,
  QueueBackend,
  ReceivedMessage,
} from "../queue-backend.ts";

/** The four queues this build uses (MESSAGE_QUEUE_SQS_*_URL). */
export interface SqsQueueUrls {
  asyncUrl: string;
  asyncFifoUrl: string;
  dlqUrl: string;
  dlqFifoUrl: string;
}

/** A committed outbox row (`queue_messages`), as the relay hands it over. */
export interface OutboxMessage {
  id: string;
  name: string;
  payload: unknown;
  payloadObject: string | null;
  groupKey: string | null;
  dedupKey: string | null;
  maxReceives: number;
}

/** The SQS message body: the job, self-contained. */
interface Envelope {
  v: 1;
  /** The outbox row id: stable across redeliveries and duplicate relays (the job id). */
  id: string;
  name: string;
  payload?: unknown;
  payloadObject?: string;
  maxReceives: number;
}

/** What the backend remembers about a received message, to settle it. */
interface Receipt {
  queueUrl: string;
  receiptHandle: string;
  messageId: string;
  groupId: string | null;
  envelope: Envelope | null;
  body: string;
}

/** SQS's limit on the whole message; the envelope must fit under it. */
const MAX_SQS_MESSAGE_BYTES = 256 * 1024;
const MAX_VISIBILITY_SECONDS = 43_200;
/** Errors meaning "this receive no longer holds the message". */
const LOST_RECEIPT_ERRORS = new Set([
  "ReceiptHandleIsInvalid",
  "MessageNotInflight",
  "InvalidParameterValue",
]);

export const isFifoQueue = (url: string) => url.endsWith(".fifo");

/**
 * The QueueBackend for MESSAGE_QUEUE_TYPE=sqs (AWS SQS).
 *
 * Enqueue is an OUTBOX: SQS cannot join a Postgres transaction, so `enqueue` still writes
 * the row to `queue_messages` inside the caller's transaction (exactly as the Postgres
 * backend does), and the relay (sqs-relay.ts, run by the drain role) sends committed, due
 * rows to SQS and then deletes them. A rolled-back transaction therefore never produces a
 * message, and a committed one always does, at least once (a relay dying between the send
 * and the delete sends the row again; handlers are idempotent anyway).
 *
 * Routing: a message with a FIFO group (`queue`) goes to MESSAGE_QUEUE_SQS_ASYNC_FIFO_URL
 * with MessageGroupId, everything else to MESSAGE_QUEUE_SQS_ASYNC_URL. Dead letters go to
 * the FIFO DLQ or the standard DLQ accordingly. The other configured URLs are not used yet.
 *
 * Differences from the Postgres queue, all inherent to SQS:
 * - `priority` is ignored; order is enqueue order. `runAt` is honoured by the relay, which
 *   sends a row only once it is due.
 * - Dedup (`jobKey`): holds while the row waits in the outbox; after that, only FIFO
 *   queues deduplicate (MessageDeduplicationId, for SQS's 5-minute window).
 * - Max receives: the queue's redrive policy (maxReceiveCount 3) moves a message that is
 *   received too often without being deleted to the DLQ itself; a job allowing more than
 *   the redrive limit is capped by it. A message seen here beyond its own limit is
 *   dead-lettered explicitly, as is one a handler fails for good (PermanentJobError,
 *   last attempt, bad payload): sent to the DLQ, then deleted.
 * - Fencing: ChangeMessageVisibility with a superseded receipt fails, so `extend` and
 *   `nack` report a lost message; DeleteMessage does not, so `ack` and `deadLetter`
 *   cannot tell and return true.
 * - A nack cannot store the error on the message; the drain logs it.
 * - Drains should share one job catalog: a message whose name this drain does not handle
 *   is made visible again at once, but that receive still counts towards redrive.
 * - Large payloads: as in the Postgres queue, JSON over 256 KiB lives in the
 *   large-queue-messages bucket and the message carries the key.
 *
 * FIFO groups: SQS hides a group's later messages while one is in flight, but returns
 * several of a group in one batch; so FIFO receives ask for one message at a time, which
 * keeps one message per group in flight, as the QueueBackend contract requires.
 */
export class SqsQueueBackend implements QueueBackend {
  private readonly receipts = new WeakMap<ReceivedMessage, Receipt>();
  private fifoFirst = false;

  constructor(
    private readonly opts: {
      client: SQSClient;
      queues: SqsQueueUrls;
      /** Where payloads over MAX_INLINE_PAYLOAD_BYTES go; null: they are refused. */
      largeMessages: LargeMessageStore | null;
      log?: Logger;
      /** Long-poll wait of the first receive of a claim (0-20 s). Default 1. */
      waitTimeSeconds?: number;
      /** The queues' redrive maxReceiveCount; caps a job's own limit. Default 3. */
      maxReceiveCount?: number;
    },
  ) {}

  private get large(): LargeMessageStore | null {
    return this.opts.largeMessages;
  }

  /** Writes the outbox row on `db` (usually the caller's transaction); the relay sends it. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async enqueue(db: Kysely<any>, message: OutgoingMessage): Promise<void> {
    await insertMessage(db, message, this.large);
  }

  /** Sends one outbox row to its queue (the relay's half of the outbox). */
  async send(message: OutboxMessage): Promise<void> {
    const queueUrl =
      message.groupKey !== null
        ? this.opts.queues.asyncFifoUrl
        : this.opts.queues.asyncUrl;
    const envelope: Envelope = {
      v: 1,
      id: message.id,
      name: message.name,
      maxReceives: message.maxReceives,
      ...(message.payloadObject !== null
        ? { payloadObject: message.payloadObject }
        : { payload: message.payload }),
    };
    let body = JSON.stringify(envelope);
    if (Buffer.byteLength(body, "utf8") > MAX_SQS_MESSAGE_BYTES) {
      // The payload fit the row but not SQS with the envelope around it.
      const large = this.large;
      if (!large)
        throw new Error(
          `job ${message.name} (${message.id}) does not fit an SQS message and no large-messages bucket is configured`,
        );
      const key = `${message.name}/${randomUUID()}.json`;
      await large.store.put(large.bucket, key, JSON.stringify(message.payload));
      const { payload: _inline, ...rest } = envelope;
      body = JSON.stringify({ ...rest, payloadObject: key });
    }
    await this.opts.client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        ...(isFifoQueue(queueUrl)
          ? {
              MessageGroupId: sqsToken(message.groupKey ?? message.id),
              // A relay resending after a crash is dropped by SQS within its 5 minutes.
              MessageDeduplicationId: sqsToken(
                message.dedupKey ?? `outbox:${message.id}`,
              ),
            }
          : {}),
      }),
    );
  }

  async claim(opts: ClaimOptions): Promise<ClaimResult> {
    const result: ClaimResult = { messages: [], deadLettered: [] };
    if (opts.limit <= 0 || opts.names.length === 0) return result;
    const visibility = toSeconds(opts.visibilityTimeoutMs);
    const wait = this.opts.waitTimeSeconds ?? 1;
    const received: { queueUrl: string; message: Message }[] = [];
    // Alternate which queue goes first, so that neither starves the other at limit 1.
    this.fifoFirst = !this.fifoFirst;
    const order = this.fifoFirst
      ? (["fifo", "standard"] as const)
      : (["standard", "fifo"] as const);
    let first = true;
    for (const kind of order) {
      const left = opts.limit - received.length;
      if (left <= 0) break;
      if (kind === "standard") {
        const share = order[0] === "standard" ? Math.ceil(left / 2) : left;
        const got = await this.receive(
          this.opts.queues.asyncUrl,
          Math.min(10, share),
          visibility,
          first ? wait : 0,
        );
        received.push(...got);
      } else {
        const share = order[0] === "fifo" ? Math.ceil(left / 2) : left;
        for (let i = 0; i < share; i++) {
          const got = await this.receive(
            this.opts.queues.asyncFifoUrl,
            1,
            visibility,
            first && i === 0 ? wait : 0,
          );
          received.push(...got);
          if (got.length === 0) break;
        }
      }
      first = false;
    }

    const names = new Set(opts.names);
    for (const { queueUrl, message } of received) {
      const receipt = toReceipt(queueUrl, message);
      const received = this.toReceived(receipt, message, opts);
      this.receipts.set(received, receipt);
      if (!receipt.envelope) {
        await this.deadLetter(received, {
          reason: "the SQS message body is not a Stackyard job",
        });
        result.deadLettered.push(received);
      } else if (!names.has(received.name)) {
        await this.changeVisibility(received, 0);
      } else if (received.receiveCount > received.maxReceives) {
        await this.deadLetter(received, {
          reason: `received ${received.receiveCount} times without being acknowledged (limit ${received.maxReceives})`,
        });
        result.deadLettered.push(received);
      } else {
        result.messages.push(received);
      }
    }
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
    return this.changeVisibility(message, toSeconds(visibilityTimeoutMs));
  }

  async ack(message: ReceivedMessage): Promise<boolean> {
    const receipt = this.receiptOf(message);
    await this.opts.client.send(
      new DeleteMessageCommand({
        QueueUrl: receipt.queueUrl,
        ReceiptHandle: receipt.receiptHandle,
      }),
    );
    if (message.payloadObject !== null) await this.deleteObject(message);
    return true;
  }

  async nack(
    message: ReceivedMessage,
    opts: { delayMs: number; error: string },
  ): Promise<boolean> {
    return this.changeVisibility(message, toSeconds(opts.delayMs));
  }

  /**
   * Sends the message to the DLQ (with the reason) and deletes it from its queue. The
   * payload object stays in the bucket (until its retention) for inspection or redrive.
   */
  async deadLetter(
    message: ReceivedMessage,
    opts: { reason: string; error?: string },
  ): Promise<boolean> {
    const receipt = this.receiptOf(message);
    const fifo = isFifoQueue(receipt.queueUrl);
    const dlqUrl = fifo ? this.opts.queues.dlqFifoUrl : this.opts.queues.dlqUrl;
    const deadLetter = {
      reason: opts.reason,
      error: opts.error ?? message.lastError,
      receiveCount: message.receiveCount,
      queueUrl: receipt.queueUrl,
      messageId: receipt.messageId,
      at: new Date().toISOString(),
    };
    const body = receipt.envelope
      ? JSON.stringify({ ...receipt.envelope, deadLetter })
      : JSON.stringify({ raw: receipt.body.slice(0, 200_000), deadLetter });
    await this.opts.client.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: body,
        ...(isFifoQueue(dlqUrl)
          ? {
              MessageGroupId: receipt.groupId ?? sqsToken(message.id),
              MessageDeduplicationId: sqsToken(`dead:${receipt.messageId}`),
            }
          : {}),
      }),
    );
    await this.opts.client.send(
      new DeleteMessageCommand({
        QueueUrl: receipt.queueUrl,
        ReceiptHandle: receipt.receiptHandle,
      }),
    );
    return true;
  }

  private async receive(
    queueUrl: string,
    max: number,
    visibilityTimeout: number,
    waitTimeSeconds: number,
  ): Promise<{ queueUrl: string; message: Message }[]> {
    const out = await this.opts.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        VisibilityTimeout: visibilityTimeout,
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: [
          "ApproximateReceiveCount",
          "MessageGroupId",
        ],
      }),
    );
    return (out.Messages ?? []).map((message) => ({ queueUrl, message }));
  }

  private async changeVisibility(
    message: ReceivedMessage,
    seconds: number,
  ): Promise<boolean> {
    const receipt = this.receiptOf(message);
    try {
      await this.opts.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: receipt.queueUrl,
          ReceiptHandle: receipt.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof Error && LOST_RECEIPT_ERRORS.has(err.name))
        return false;
      throw err;
    }
  }

  private toReceived(
    receipt: Receipt,
    message: Message,
    opts: ClaimOptions,
  ): ReceivedMessage {
    const env = receipt.envelope;
    const limit = this.opts.maxReceiveCount ?? DEFAULT_MAX_RECEIVES;
    const own =
      (env && opts.maxReceivesByName?.[env.name]) ??
      env?.maxReceives ??
      DEFAULT_MAX_RECEIVES;
    return {
      id: env?.id ?? receipt.messageId,
      name: env?.name ?? "(unreadable)",
      payload: env?.payload ?? null,
      payloadObject: env?.payloadObject ?? null,
      groupKey: receipt.groupId,
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
      maxReceives: Math.min(own, limit),
      lastError: null,
    };
  }

  private receiptOf(message: ReceivedMessage): Receipt {
    const receipt = this.receipts.get(message);
    if (!receipt)
      throw new Error(
        `message ${message.id} was not received by this SQS backend`,
      );
    return receipt;
  }

  private async deleteObject(message: ReceivedMessage): Promise<void> {
    const large = this.large;
    if (!large || message.payloadObject === null) return;
    try {
      await large.store.delete(large.bucket, message.payloadObject);
    } catch (err) {
      // The message is already gone; the bucket's retention removes the object later.
      this.opts.log?.warn(
        { err, job: message.name, jobId: message.id },
        "could not delete a large message payload",
      );
    }
  }
}

/** The SQS client for the queues; credentials from the AWS default chain. */
export function createSqsClient(opts: {
  region: string;
  endpoint?: string | null;
}): SQSClient {
  return new SQSClient({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
  });
}

/** The region in an SQS URL (`https://sqs.<region>.amazonaws.com/...`), if it names one. */
export function regionOfQueueUrl(url: string): string | null {
  const match = /^sqs[.-]([a-z0-9-]+)\.amazonaws\.com/.exec(new URL(url).host);
  return match?.[1] ?? null;
}

function toReceipt(queueUrl: string, message: Message): Receipt {
  const body = message.Body ?? "";
  let envelope: Envelope | null = null;
  try {
    const parsed = JSON.parse(body) as Partial<Envelope>;
    if (
      parsed.v === 1 &&
      typeof parsed.id === "string" &&
      typeof parsed.name === "string" &&
      typeof parsed.maxReceives === "number"
    )
      envelope = parsed as Envelope;
  } catch {
    envelope = null;
  }
  if (!message.ReceiptHandle || !message.MessageId)
    throw new Error("SQS returned a message without a receipt handle or id");
  return {
    queueUrl,
    receiptHandle: message.ReceiptHandle,
    messageId: message.MessageId,
    groupId: message.Attributes?.MessageGroupId ?? null,
    envelope,
    body,
  };
}

function toSeconds(ms: number): number {
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(ms / 1000)));
}

/**
 * MessageGroupId and MessageDeduplicationId allow 128 characters of [!-~]; anything else
 * is replaced by its SHA-256 (stable, so the same key always maps to the same token).
 */
function sqsToken(value: string): string {
  return /^[!-~]{1,128}$/.test(value)
    ? value
    : createHash("sha256").update(value).digest("hex");
}

/**
 * The backend for MESSAGE_QUEUE_TYPE=sqs from the configured URLs (the config rules
 * require them). The signing region is the one in the queue URL, else `fallbackRegion`.
 */
export function createSqsQueueBackend(opts: {
  queues: Partial<Record<keyof SqsQueueUrls, string | null>>;
  endpoint: string | null;
  fallbackRegion: string | null;
  largeMessages: LargeMessageStore | null;
  log: Logger;
}): SqsQueueBackend {
  const { asyncUrl, asyncFifoUrl, dlqUrl, dlqFifoUrl } = opts.queues;
  if (!asyncUrl || !asyncFifoUrl || !dlqUrl || !dlqFifoUrl)
    throw new Error(
      "MESSAGE_QUEUE_TYPE=sqs needs MESSAGE_QUEUE_SQS_ASYNC_URL, _ASYNC_FIFO_URL, _DLQ_URL and _DLQ_FIFO_URL",
    );
  const client = createSqsClient({
    region: regionOfQueueUrl(asyncUrl) ?? opts.fallbackRegion ?? "us-east-1",
    endpoint: opts.endpoint,
  });
  return new SqsQueueBackend({
    client,
    queues: { asyncUrl, asyncFifoUrl, dlqUrl, dlqFifoUrl },
    largeMessages: opts.largeMessages,
    log: opts.log,
  });
}
