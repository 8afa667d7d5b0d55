import { z } from "zod";
import { TOPIC_SEGMENT_PATTERN } from "./topics.ts";
import { runAssignSchema, runStopSchema } from "./run-messages.ts";

/**
 * Messages between the server and launchers, JSON-encoded, one per MQTT publish.
 *
 * Every message carries `v` (the protocol version) and `type`. A receiver rejects a
 * version it does not speak instead of guessing, so a mismatched launcher fails loudly.
 * Adding an optional field is compatible; renaming or removing one needs `v: 2`.
 *
 * Delivery is at-least-once and may be lost across a reconnect, so every message is
 * idempotent and state is repeated: the worker re-registers on every (re)connect and
 * heartbeats its full status, and the server answers a heartbeat from a worker it does
 * not know with `worker.reregister`.
 */
import { PROTOCOL_VERSION } from "./version.ts";

export { PROTOCOL_VERSION };

const version = z.literal(PROTOCOL_VERSION);
const id = z
  .string()
  .regex(TOPIC_SEGMENT_PATTERN, "must be 1-128 of A-Z a-z 0-9 _ . -");

export const WORKER_STATUSES = ["IDLE", "BUSY", "DRAINED"] as const;
export const workerStatusSchema = z.enum(WORKER_STATUSES);
/** What a live worker reports; `GONE` exists only on the server, for expired workers. */
export type ReportedWorkerStatus = z.infer<typeof workerStatusSchema>;

// ---- worker → server (published on <ns>/writeonly/<poolId>/<workerId>) ----

/** Sent on every (re)connect. The server upserts the worker and answers `worker.registered`. */
export const workerRegisterSchema = z.object({
  v: version,
  type: z.literal("worker.register"),
  workerId: id,
  poolId: id,
  /** Launcher version, for display and compatibility checks. */
  version: z.string().max(64),
  /** Worker tags from `STACKYARD_METADATA_<key>` / `SPACELIFT_METADATA_<key>` (key lower-cased). */
  metadata: z.record(z.string(), z.string()),
  /**
   * BUSY while a run this worker started still executes: a re-register can follow an
   * outage in which the server already ended that run, and the worker must not be handed
   * another one it would ignore. Absent (older launchers) counts as not busy.
   */
  status: workerStatusSchema.optional(),
});

/** Sent every `heartbeatIntervalSeconds`, and at once when the status changes. */
export const workerHeartbeatSchema = z.object({
  v: version,
  type: z.literal("worker.heartbeat"),
  workerId: id,
  status: workerStatusSchema,
  /** The run being executed while BUSY. */
  runId: z.string().nullable().optional(),
  /** ISO-8601 UTC, the worker's clock (informational; the server stamps its own time). */
  sentAt: z.iso.datetime(),
});

/** Sent on graceful shutdown; the server marks the worker GONE at once. */
export const workerUnregisterSchema = z.object({
  v: version,
  type: z.literal("worker.unregister"),
  workerId: id,
  reason: z.string().max(1000),
});

export const workerMessageSchema = z.discriminatedUnion("type", [
  workerRegisterSchema,
  workerHeartbeatSchema,
  workerUnregisterSchema,
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
export type WorkerRegister = z.infer<typeof workerRegisterSchema>;
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;
export type WorkerUnregister = z.infer<typeof workerUnregisterSchema>;

// ---- server → worker (published on <ns>/readonly/<poolId>/<workerId>) ----

/** Answer to `worker.register`: the worker is known and must heartbeat at this interval. */
export const workerRegisteredSchema = z.object({
  v: version,
  type: z.literal("worker.registered"),
  workerId: id,
  heartbeatIntervalSeconds: z.number().positive().max(3600),
});

/** Drain (take no new runs, finish the current one) or undrain the worker. */
export const workerDrainSchema = z.object({
  v: version,
  type: z.literal("worker.drain"),
  drained: z.boolean(),
});

/** Self-destruct: the worker exits after its current run. */
export const workerCycleSchema = z.object({
  v: version,
  type: z.literal("worker.cycle"),
});

/**
 * The server has no live record of this worker (it expired as GONE, or was never seen,
 * e.g. its register was lost in a reconnect): the worker must send `worker.register` again.
 */
export const workerReregisterSchema = z.object({
  v: version,
  type: z.literal("worker.reregister"),
});

export const serverMessageSchema = z.discriminatedUnion("type", [
  workerRegisteredSchema,
  workerDrainSchema,
  workerCycleSchema,
  workerReregisterSchema,
  runAssignSchema,
  runStopSchema,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type WorkerRegistered = z.infer<typeof workerRegisteredSchema>;
export type WorkerDrain = z.infer<typeof workerDrainSchema>;
export type WorkerCycle = z.infer<typeof workerCycleSchema>;
export type WorkerReregister = z.infer<typeof workerReregisterSchema>;

export type ParseResult<T> =
  | { ok: true; msg: T }
  | { ok: false; error: string };

export const WORKER_MESSAGE_TYPES = workerMessageSchema.options.map(
  (o) => o.shape.type.value,
);
export const SERVER_MESSAGE_TYPES = serverMessageSchema.options.map(
  (o) => o.shape.type.value,
);

/** Parses a worker → server payload. Never throws: bad input yields an error string. */
export function parseWorkerMessage(
  payload: Buffer | string,
): ParseResult<WorkerMessage> {
  return parseMessage(payload, workerMessageSchema, WORKER_MESSAGE_TYPES);
}

/** Parses a server → worker payload. Never throws: bad input yields an error string. */
export function parseServerMessage(
  payload: Buffer | string,
): ParseResult<ServerMessage> {
  return parseMessage(payload, serverMessageSchema, SERVER_MESSAGE_TYPES);
}

/** JSON encoding of an outgoing message, validated so a sender bug fails at the sender. */
export function encodeMessage(msg: WorkerMessage | ServerMessage): Buffer {
  const schema = (WORKER_MESSAGE_TYPES as readonly string[]).includes(msg.type)
    ? workerMessageSchema
    : serverMessageSchema;
  const parsed = schema.safeParse(msg);
  if (!parsed.success)
    throw new Error(
      `invalid ${msg.type} message: ${formatIssues(parsed.error.issues)}`,
    );
  return Buffer.from(JSON.stringify(parsed.data));
}

function parseMessage<T>(
  payload: Buffer | string,
  schema: z.ZodType<T>,
  knownTypes: readonly string[],
): ParseResult<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(
      typeof payload === "string" ? payload : payload.toString("utf8"),
    );
  } catch (err) {
    return {
      ok: false,
      error: `message is not valid JSON: ${(err as Error).message}`,
    };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, error: "message must be a JSON object" };
  }
  const nul = pathWithNul(raw, "");
  if (nul !== null) {
    // Postgres text and jsonb cannot store U+0000; the message could never be recorded.
    return {
      ok: false,
      error: `${nul || "message"}: must not contain NUL characters`,
    };
  }
  const { v, type } = raw as { v?: unknown; type?: unknown };
  if (v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      error: `unsupported protocol version ${JSON.stringify(v)} (this side speaks v${PROTOCOL_VERSION}); upgrade the older of launcher and server`,
    };
  }
  if (typeof type !== "string" || !knownTypes.includes(type)) {
    return {
      ok: false,
      error: `unknown message type ${JSON.stringify(type)}; expected one of ${knownTypes.join(", ")}`,
    };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    return {
      ok: false,
      error: `invalid ${type} message: ${formatIssues(parsed.error.issues)}`,
    };
  return { ok: true, msg: parsed.data };
}

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map(
      (i) => `${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`,
    )
    .join("; ");
}

/** The path of the first key or string value containing U+0000, or null. */
function pathWithNul(value: unknown, at: string): string | null {
  if (typeof value === "string") return value.includes("\u0000") ? at : null;
  if (typeof value !== "object" || value === null) return null;
  for (const [key, child] of Object.entries(value)) {
    const here = Array.isArray(value)
      ? `${at}[${key}]`
      : at
        ? `${at}.${key}`
        : key;
    if (key.includes("\u0000")) return here;
    const found = pathWithNul(child, here);
    if (found !== null) return found;
  }
  return null;
}
