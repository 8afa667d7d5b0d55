/**
 * Object storage as the rest of Stackyard sees it: named buckets of immutable-ish
 * objects. Drivers (filesystem, S3, GCS, Azure) live in subfolders and implement this;
 * `createBlobStore` (create-blob-store.ts) picks one from config.
 *
 * Contract: `put` is atomic (a reader sees the old object or the whole new one, never a
 * prefix); `get` of a missing key throws ObjectNotFoundError; errors from the backing
 * store (transport, 5xx, auth, a missing bucket) surface as StorageUnavailableError, whose
 * message names the driver, bucket and key, so callers can retry instead of losing data.
 */
export interface BlobStore {
  readonly driver: string;
  /**
   * True when `ensureBuckets` installs expiration rules that the store itself enforces
   * (S3/MinIO and GCS lifecycle rules). Otherwise the `storage.expire` housekeeping job
   * deletes expired objects (see expire-objects.ts).
   */
  readonly expiresNatively: boolean;
  put(
    bucket: string,
    key: string,
    body: Buffer | string,
    opts?: { contentType?: string },
  ): Promise<void>;
  get(bucket: string, key: string): Promise<Buffer>;
  head(
    bucket: string,
    key: string,
  ): Promise<{ size: number; modifiedAt: Date } | null>;
  /** Deleting a missing object is not an error. */
  delete(bucket: string, key: string): Promise<void>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(
    bucket: string,
    prefix: string,
  ): Promise<Array<{ key: string; size: number; modifiedAt: Date }>>;
  /**
   * Creates the buckets if the store needs them; idempotent. `expirationDays` (bucket name
   * → days) becomes the bucket's lifecycle rule on stores with `expiresNatively`; a bucket
   * absent from it keeps everything. A readiness check calls `ping`.
   */
  ensureBuckets(
    buckets: string[],
    expirationDays?: Readonly<Record<string, number>>,
  ): Promise<void>;
  ping(): Promise<void>;
  /**
   * A URL that lets anyone holding it GET the object for `ttlSeconds`, or null when the
   * driver cannot presign (filesystem; GCS without a signing key; Azure without a shared
   * key). Callers then proxy the bytes through the server. Missing = always null.
   */
  presignGet?(
    bucket: string,
    key: string,
    ttlSeconds: number,
  ): Promise<string | null>;
  /**
   * A URL (and the headers the request must carry, e.g. Azure's `x-ms-blob-type`) that
   * lets anyone holding it PUT the object's whole body for `ttlSeconds`, or null as above.
   */
  presignPut?(
    bucket: string,
    key: string,
    ttlSeconds: number,
    opts?: { contentType?: string },
  ): Promise<PresignedPut | null>;
}

export interface PresignedPut {
  url: string;
  method: "PUT";
  headers: Record<string, string>;
}

/** `store.presignGet`, or null when the driver does not implement it. */
export async function presignGet(
  store: BlobStore,
  bucket: string,
  key: string,
  ttlSeconds: number,
): Promise<string | null> {
  return store.presignGet ? store.presignGet(bucket, key, ttlSeconds) : null;
}

/** `store.presignPut`, or null when the driver does not implement it. */
export async function presignPut(
  store: BlobStore,
  bucket: string,
  key: string,
  ttlSeconds: number,
  opts?: { contentType?: string },
): Promise<PresignedPut | null> {
  return store.presignPut
    ? store.presignPut(bucket, key, ttlSeconds, opts)
    : null;
}
