/** AWS SQS provider for the queue (MESSAGE_QUEUE_TYPE=sqs): the backend and its outbox relay. */
export {
  SqsQueueBackend,
  createSqsQueueBackend,
  createSqsClient,
  regionOfQueueUrl,
  isFifoQueue,
  type SqsQueueUrls,
  type OutboxMessage,
} from "./sqs-backend.ts";
export { SqsRelay } from "./sqs-relay.ts";
