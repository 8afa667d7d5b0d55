/**
 * Object storage: the BlobStore interface, its drivers, and the bucket names from
 * config. No domain knowledge: modules decide what goes in which bucket.
 */
export type { BlobStore } from "./blob-store.ts";
export {
  ObjectNotFoundError,
  StorageUnavailableError,
} from "./storage-errors.ts";
export { createFsBlobStore } from "./fs/fs-blob-store.ts";
