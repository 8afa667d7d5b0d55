/**
 * Object storage as the rest of Stackyard sees it: named buckets of immutable-ish
 * objects. Drivers (filesystem, S3, GCS, Azure) live in subfolders and implement this.
 *
 * Contract: `put` is atomic (a reader sees the old object or the whole new one, never a
 * prefix); `get` of a missing key throws ObjectNotFoundError; errors from the backing
 * store surface as StorageUnavailableError so callers can retry instead of losing data.
 */
export interface BlobStore {
  readonly driver: string;
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
  delete(bucket: string, key: string): Promise<void>;
  list(
    bucket: string,
    prefix: string,
  ): Promise<Array<{ key: string; size: number; modifiedAt: Date }>>;
  /** Creates the buckets if the store needs them; a readiness check calls `ping`. */
  ensureBuckets(buckets: string[]): Promise<void>;
  ping(): Promise<void>;
}
