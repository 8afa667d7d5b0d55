import { createHash, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SQSClient } from "@aws-sdk/client-sqs";

/**
 * A fake AWS SQS for tests: a node:http server speaking the protocol
 * `@aws-sdk/client-sqs@3.1163.0` uses, AWS JSON 1.0 (`POST /`,
 * `X-Amz-Target: AmazonSQS.<Op>`, `Content-Type: application/x-amz-json-1.0`), in the
 * SDK's query-compatible mode (errors as `{__type, message}` plus the
 * `x-amzn-query-error: <Code>;Sender` header the SDK maps error names from). Bodies carry
 * MD5OfBody / MD5OfMessageBody, which the SDK checks. SigV4 signatures are not checked, but
 * an Authorization header is required.
 *
 * Operations: SendMessage, ReceiveMessage, DeleteMessage, ChangeMessageVisibility, with
 * real semantics on the wall clock: visibility timeouts, ApproximateReceiveCount, long
 * polling (WaitTimeSeconds), redrive to a DLQ once a message would be received more than
 * maxReceiveCount times, and FIFO queues (`.fifo`: MessageGroupId required, a group's
 * messages in order and hidden while one is in flight, 5-minute deduplication).
 */
export interface FakeSqsQueueSpec {
  name: string;
  /** Default VisibilityTimeout in seconds (default 30). */
  visibilityTimeout?: number;
  redrive?: { deadLetterQueue: string; maxReceiveCount: number };
}

export interface FakeSqsMessageView {
  messageId: string;
  body: string;
  groupId: string | null;
  receiveCount: number;
  inFlight: boolean;
}

export interface FakeSqs {
  url: string;
  region: string;
  queueUrl(name: string): string;
  /** Every message currently in the queue (in flight or not), oldest first. */
  messages(name: string): FakeSqsMessageView[];
  /** Operation names received, in order. */
  calls: string[];
  /** Empties every queue and forgets deduplication ids (between tests). */
  reset(): void;
  close(): Promise<void>;
}

interface StoredMessage {
  messageId: string;
  body: string;
  md5: string;
  groupId: string | null;
  dedupId: string | null;
  sequence: bigint;
  sentAt: number;
  firstReceivedAt: number | null;
  visibleAt: number;
  receiveCount: number;
  /** The latest receipt handle; earlier ones are stale. */
  receiptHandle: string | null;
}

interface Queue {
  name: string;
  fifo: boolean;
  visibilityTimeout: number;
  redrive: FakeSqsQueueSpec["redrive"] | null;
  messages: StoredMessage[];
  /** FIFO dedup: id -> [messageId, expiry]. */
  dedup: Map<string, { messageId: string; sequence: bigint; until: number }>;
}

class SqsError extends Error {
  constructor(
    readonly type: string,
    readonly queryCode: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const ACCOUNT = "000000000000";
const MAX_BODY_BYTES = 256 * 1024;
const DEDUP_WINDOW_MS = 5 * 60 * 1000;

const invalid = (message: string) =>
  new SqsError("InvalidParameterValue", "InvalidParameterValue", message);
const md5 = (s: string) => createHash("md5").update(s, "utf8").digest("hex");

export async function startFakeSqs(opts: {
  queues: FakeSqsQueueSpec[];
  region?: string;
}): Promise<FakeSqs> {
  const region = opts.region ?? "eu-west-1";
  const queues = new Map<string, Queue>();
  const issuedHandles = new Set<string>();
  const calls: string[] = [];
  let sequence = 10_000_000_000_000_000n;
  for (const spec of opts.queues) {
    queues.set(spec.name, {
      name: spec.name,
      fifo: spec.name.endsWith(".fifo"),
      visibilityTimeout: spec.visibilityTimeout ?? 30,
      redrive: spec.redrive ?? null,
      messages: [],
      dedup: new Map(),
    });
  }
  for (const q of queues.values()) {
    const dlq = q.redrive && queues.get(q.redrive.deadLetterQueue);
    if (q.redrive && (!dlq || dlq.fifo !== q.fifo))
      throw new Error(
        `queue ${q.name}: dead-letter queue ${q.redrive.deadLetterQueue} must exist and be of the same type`,
      );
  }

  let base = "";
  const queueOf = (body: Record<string, unknown>): Queue => {
    const url = body["QueueUrl"];
    if (typeof url !== "string")
      throw new SqsError(
        "MissingParameter",
        "MissingParameter",
        "The request must contain the parameter QueueUrl.",
      );
    const name = url.split("/").pop() ?? "";
    const q = queues.get(name);
    if (!q)
      throw new SqsError(
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
      );
    return q;
  };
  const int = (
    value: unknown,
    field: string,
    min: number,
    max: number,
  ): number | undefined => {
    if (value === undefined || value === null) return undefined;
    if (
      typeof value !== "number" ||
      !Number.isInteger(value) ||
      value < min ||
      value > max
    )
      throw invalid(
        `Value ${String(value)} for parameter ${field} is invalid. Reason: must be between ${min} and ${max}.`,
      );
    return value;
  };
  const findByHandle = (q: Queue, handle: unknown) => {
    if (typeof handle !== "string" || !issuedHandles.has(handle))
      throw new SqsError(
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
        `The input receipt handle "${String(handle)}" is not a valid receipt handle.`,
        404,
      );
    return q.messages.find((m) => m.receiptHandle === handle) ?? null;
  };

  const enqueue = (
    q: Queue,
    m: Omit<StoredMessage, "sequence" | "md5">,
  ): StoredMessage => {
    sequence += 1n;
    const stored = { ...m, md5: md5(m.body), sequence };
    q.messages.push(stored);
    return stored;
  };

  /** Moves messages that would exceed maxReceiveCount to the DLQ (done by SQS on receive). */
  const redrive = (q: Queue, m: StoredMessage) => {
    const dlq = queues.get(q.redrive?.deadLetterQueue ?? "");
    if (!dlq) return;
    q.messages.splice(q.messages.indexOf(m), 1);
    enqueue(dlq, {
      ...m,
      dedupId: null,
      visibleAt: Date.now(),
      receiveCount: 0,
      receiptHandle: null,
      firstReceivedAt: null,
    });
  };

  /** Messages receivable now, in delivery order, at most `max`. */
  const receivable = (q: Queue, max: number): StoredMessage[] => {
    const now = Date.now();
    const picked: StoredMessage[] = [];
    if (!q.fifo) {
      for (const m of [...q.messages]) {
        if (picked.length >= max) break;
        if (m.visibleAt > now) continue;
        if (q.redrive && m.receiveCount >= q.redrive.maxReceiveCount) {
          redrive(q, m);
          continue;
        }
        picked.push(m);
      }
      return picked;
    }
    // FIFO: group by group id in order; a group with a message in flight is locked. Like
    // SQS, return as many messages of one group as possible before the next group.
    const groups = new Map<string, StoredMessage[]>();
    for (const m of q.messages) {
      const g = m.groupId ?? "";
      groups.set(g, [...(groups.get(g) ?? []), m]);
    }
    for (const messages of groups.values()) {
      if (messages.some((m) => m.visibleAt > now && m.receiveCount > 0))
        continue;
      for (const m of messages) {
        if (picked.length >= max) return picked;
        if (m.visibleAt > now) break;
        if (q.redrive && m.receiveCount >= q.redrive.maxReceiveCount) {
          redrive(q, m);
          continue;
        }
        picked.push(m);
      }
    }
    return picked;
  };

  const operations: Record<
    string,
    (body: Record<string, unknown>) => object | Promise<object>
  > = {
    SendMessage(body) {
      const q = queueOf(body);
      const text = body["MessageBody"];
      if (typeof text !== "string" || text === "")
        throw new SqsError(
          "MissingParameter",
          "MissingParameter",
          "The request must contain the parameter MessageBody.",
        );
      if (Buffer.byteLength(text, "utf8") > MAX_BODY_BYTES)
        throw invalid(
          `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_BODY_BYTES} bytes.`,
        );
      const delay = int(body["DelaySeconds"], "DelaySeconds", 0, 900);
      const groupId = body["MessageGroupId"];
      const dedupId = body["MessageDeduplicationId"];
      const now = Date.now();
      if (q.fifo) {
        if (delay !== undefined && delay > 0)
          throw invalid(
            "Value for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
          );
        if (typeof groupId !== "string" || !/^[!-~]{1,128}$/.test(groupId))
          throw new SqsError(
            "MissingParameter",
            "MissingParameter",
            "The request must contain the parameter MessageGroupId.",
          );
        if (typeof dedupId !== "string" || !/^[!-~]{1,128}$/.test(dedupId))
          throw invalid(
            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
          );
        const seen = q.dedup.get(dedupId);
        if (seen && seen.until > now)
          return {
            MessageId: seen.messageId,
            MD5OfMessageBody: md5(text),
            SequenceNumber: String(seen.sequence),
          };
      } else if (dedupId !== undefined) {
        throw invalid(
          "Value for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.",
        );
      }
      const stored = enqueue(q, {
        messageId: randomUUID(),
        body: text,
        groupId: typeof groupId === "string" ? groupId : null,
        dedupId: typeof dedupId === "string" ? dedupId : null,
        sentAt: now,
        firstReceivedAt: null,
        visibleAt: now + (delay ?? 0) * 1000,
        receiveCount: 0,
        receiptHandle: null,
      });
      if (q.fifo && stored.dedupId)
        q.dedup.set(stored.dedupId, {
          messageId: stored.messageId,
          sequence: stored.sequence,
          until: now + DEDUP_WINDOW_MS,
        });
      return {
        MessageId: stored.messageId,
        MD5OfMessageBody: stored.md5,
        ...(q.fifo ? { SequenceNumber: String(stored.sequence) } : {}),
      };
    },

    async ReceiveMessage(body) {
      const q = queueOf(body);
      const max =
        int(body["MaxNumberOfMessages"], "MaxNumberOfMessages", 1, 10) ?? 1;
      const visibility =
        int(body["VisibilityTimeout"], "VisibilityTimeout", 0, 43_200) ??
        q.visibilityTimeout;
      const wait = int(body["WaitTimeSeconds"], "WaitTimeSeconds", 0, 20) ?? 0;
      const wanted = new Set([
        ...((body["AttributeNames"] as string[] | undefined) ?? []),
        ...((body["MessageSystemAttributeNames"] as string[] | undefined) ??
          []),
      ]);
      const deadline = Date.now() + wait * 1000;
      let picked = receivable(q, max);
      while (picked.length === 0 && Date.now() < deadline && !closing) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        picked = receivable(q, max);
      }
      const now = Date.now();
      const all = wanted.has("All");
      return {
        Messages: picked.map((m) => {
          m.receiveCount += 1;
          m.firstReceivedAt ??= now;
          m.visibleAt = now + visibility * 1000;
          m.receiptHandle = randomBytes(24).toString("base64url");
          issuedHandles.add(m.receiptHandle);
          const attributes: Record<string, string> = {
            ApproximateReceiveCount: String(m.receiveCount),
            SentTimestamp: String(m.sentAt),
            ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
            ...(m.groupId !== null ? { MessageGroupId: m.groupId } : {}),
            ...(m.dedupId !== null
              ? { MessageDeduplicationId: m.dedupId }
              : {}),
            ...(q.fifo ? { SequenceNumber: String(m.sequence) } : {}),
          };
          const selected = Object.fromEntries(
            Object.entries(attributes).filter(([k]) => all || wanted.has(k)),
          );
          return {
            MessageId: m.messageId,
            ReceiptHandle: m.receiptHandle,
            MD5OfBody: m.md5,
            Body: m.body,
            ...(Object.keys(selected).length > 0
              ? { Attributes: selected }
              : {}),
          };
        }),
      };
    },

    DeleteMessage(body) {
      const q = queueOf(body);
      const m = findByHandle(q, body["ReceiptHandle"]);
      // Like SQS, a superseded receipt handle succeeds without deleting anything.
      if (m) q.messages.splice(q.messages.indexOf(m), 1);
      return {};
    },

    ChangeMessageVisibility(body) {
      const q = queueOf(body);
      const m = findByHandle(q, body["ReceiptHandle"]);
      const seconds = int(
        body["VisibilityTimeout"],
        "VisibilityTimeout",
        0,
        43_200,
      );
      if (seconds === undefined)
        throw new SqsError(
          "MissingParameter",
          "MissingParameter",
          "The request must contain the parameter VisibilityTimeout.",
        );
      if (!m)
        throw new SqsError(
          "ReceiptHandleIsInvalid",
          "ReceiptHandleIsInvalid",
          "The receipt handle has expired.",
          404,
        );
      if (m.visibleAt <= Date.now())
        throw new SqsError(
          "MessageNotInflight",
          "AWS.SimpleQueueService.MessageNotInflight",
          "The message referred to isn't in flight.",
        );
      m.visibleAt = Date.now() + seconds * 1000;
      return {};
    },
  };

  let closing = false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const reply = (status: number, body: object, extra = {}) => {
        const text = JSON.stringify(body);
        res.writeHead(status, {
          "content-type": "application/x-amz-json-1.0",
          "content-length": Buffer.byteLength(text),
          "x-amzn-requestid": randomUUID(),
          ...extra,
        });
        res.end(text);
      };
      const fail = (err: SqsError) =>
        reply(
          err.status,
          { __type: `com.amazonaws.sqs#${err.type}`, message: err.message },
          { "x-amzn-query-error": `${err.queryCode};Sender` },
        );
      if (req.method !== "POST" || req.url !== "/")
        return fail(
          new SqsError("InvalidAction", "InvalidAction", "not found", 404),
        );
      if (!req.headers.authorization)
        return fail(
          new SqsError(
            "MissingAuthenticationToken",
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
            403,
          ),
        );
      const target = String(req.headers["x-amz-target"] ?? "");
      const [service, op] = target.split(".");
      const handler = op === undefined ? undefined : operations[op];
      if (service !== "AmazonSQS" || !handler)
        return fail(
          new SqsError(
            "InvalidAction",
            "InvalidAction",
            `The action ${target} is not valid for this endpoint.`,
          ),
        );
      if (
        !String(req.headers["content-type"] ?? "").startsWith(
          "application/x-amz-json-1.0",
        )
      )
        return fail(invalid("expected application/x-amz-json-1.0"));
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(
          Buffer.concat(chunks).toString("utf8") || "{}",
        ) as Record<string, unknown>;
      } catch {
        return fail(invalid("the body is not JSON"));
      }
      calls.push(op as string);
      Promise.resolve()
        .then(() => handler(body))
        .then(
          (out) => reply(200, out),
          (err: unknown) =>
            err instanceof SqsError
              ? fail(err)
              : fail(
                  new SqsError(
                    "InternalError",
                    "InternalError",
                    String(err),
                    500,
                  ),
                ),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    region,
    calls,
    queueUrl: (name) => {
      if (!queues.has(name)) throw new Error(`no queue ${name}`);
      return `${base}/${ACCOUNT}/${name}`;
    },
    reset: () => {
      for (const q of queues.values()) {
        q.messages = [];
        q.dedup.clear();
      }
      calls.length = 0;
    },
    messages: (name) => {
      const q = queues.get(name);
      if (!q) throw new Error(`no queue ${name}`);
      const now = Date.now();
      return q.messages.map((m) => ({
        messageId: m.messageId,
        body: m.body,
        groupId: m.groupId,
        receiveCount: m.receiveCount,
        inFlight: m.receiveCount > 0 && m.visibleAt > now,
      }));
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing = true;
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** A real SDK client pointed at the fake, with dummy credentials (signed, never checked). */
export function fakeSqsClient(fake: FakeSqs): SQSClient {
  return new SQSClient({
    region: fake.region,
    endpoint: fake.url,
    credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
  });
}

/** The queues Stackyard uses, with the spec's redrive (max receives 3) to the DLQs. */
export const STACKYARD_FAKE_QUEUES: FakeSqsQueueSpec[] = [
  { name: "dlq", visibilityTimeout: 300 },
  { name: "dlq.fifo", visibilityTimeout: 300 },
  {
    name: "async",
    visibilityTimeout: 300,
    redrive: { deadLetterQueue: "dlq", maxReceiveCount: 3 },
  },
  {
    name: "async.fifo",
    visibilityTimeout: 300,
    redrive: { deadLetterQueue: "dlq.fifo", maxReceiveCount: 3 },
  },
];
