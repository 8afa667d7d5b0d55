import type { BlobStore } from "../storage/index.ts";

/** SQS's message size limit; a larger payload JSON goes to the large-messages bucket. */
export const MAX_INLINE_PAYLOAD_BYTES = 256 * 1024;

/**
 * Where oversize payloads live: the `largeQueueMessages` bucket of the configured object
 * storage. The object is written before its message row (a row never points at nothing)
 * and deleted after the message is acked; an enqueue whose transaction rolls back leaves
 * an orphan that the bucket's retention (2 days) removes.
 */
export interface LargeMessageStore {
  store: Pick<BlobStore, "put" | "get" | "delete">;
  bucket: string;
}

let configured: LargeMessageStore | null = null;

/**
 * Sets the process-wide store `enqueue` (and drains without their own) use for oversize
 * payloads. The composition root calls it once; `null` turns oversize payloads into
 * errors again.
 */
export function configureLargeMessages(large: LargeMessageStore | null): void {
  configured = large;
}

export function configuredLargeMessages(): LargeMessageStore | null {
  return configured;
}

export class PayloadTooLargeError extends Error {}
