/** SQS's message size limit; a larger payload JSON goes to the large-messages bucket. */
export const MAX_INLINE_PAYLOAD_BYTES = 256 * 1024;

/**
 * Where oversize payloads live: the `largeQueueMessages` bucket of the configured object
 * storage. The object is written before its message row (a row never points at nothing)
 * and deleted after the message is acked; an enqueue whose transaction rolls back leaves
 * an orphan that the bucket's retention (2 days) removes.
 */
export interface LargeMessageStore {
  /** The object store's calls the queue makes (platform/storage's BlobStore has them). */
  store: {
    put(bucket: string, key: string, body: string): Promise<void>;
    /** Rejects with a NotFoundError (platform/errors.ts) when the object is missing. */
    get(bucket: string, key: string): Promise<Buffer>;
    /** Deleting a missing object is not an error. */
    delete(bucket: string, key: string): Promise<void>;
  };
  bucket: string;
}

export class PayloadTooLargeError extends Error {}
