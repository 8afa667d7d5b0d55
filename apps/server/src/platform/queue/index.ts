/**
 * The message queue: `enqueue` (inside the caller's transaction) and the `Drain` that
 * runs job handlers from the module catalogs, with SQS semantics on Postgres (visibility
 * timeout, max receives, dead letters, FIFO groups; rules in queue.ts). Owns the tables
 * `queue_messages` and `queue_dead_letters` and the `stackyard_queue` NOTIFY channel.
 * Generic: job names and payloads belong to the modules. `QueueBackend` is the seam for
 * the SQS backend (`sqs/`, MESSAGE_QUEUE_TYPE=sqs): enqueue then writes the same rows as an
 * outbox, and the relay run by the drain role sends committed rows to SQS.
 */
export {
  enqueue,
  createEnqueue,
  defineJob,
  PermanentJobError,
  JOB_NAME_PATTERN,
  type JobCatalog,
  type JobDefinition,
  type JobContext,
  type Enqueue,
  type SqlTriggerProducer,
  type EnqueueOptions,
} from "./queue.ts";
export {
  Drain,
  QUEUE_CHANNEL,
  defaultRetryDelayMs,
  type DrainOptions,
} from "./drain.ts";
export {
  MAX_INLINE_PAYLOAD_BYTES,
  PayloadTooLargeError,
  type LargeMessageStore,
} from "./large-messages.ts";
export {
  PostgresQueueBackend,
  DEFAULT_MAX_RECEIVES,
} from "./postgres-backend.ts";
export type {
  QueueBackend,
  OutgoingMessage,
  ClaimOptions,
  ClaimResult,
  ReceivedMessage,
} from "./queue-backend.ts";
export {
  SqsQueueBackend,
  SqsRelay,
  createSqsQueueBackend,
  type SqsQueueUrls,
} from "./sqs/index.ts";
