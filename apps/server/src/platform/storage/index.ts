/**
 * Object storage: the BlobStore interface, its drivers (filesystem, S3/MinIO, GCS,
 * Azure), the driver choice from config, and bucket retention (lifecycle rules where the
 * store has them, the `storage.expire` job otherwise). No domain knowledge: modules
 * decide what goes in which bucket.
 */
export {
  presignGet,
  presignPut,
  type BlobStore,
  type PresignedPut,
} from "./blob-store.ts";
export {
  ObjectNotFoundError,
  StorageUnavailableError,
} from "./storage-errors.ts";
export { createFsBlobStore } from "./fs/fs-blob-store.ts";
export { createS3BlobStore } from "./s3/s3-blob-store.ts";
export { createGcsBlobStore } from "./gcs/gcs-blob-store.ts";
export { createAzureBlobStore } from "./azure/azure-blob-store.ts";
export {
  createBlobStore,
  bucketExpirations,
  ensureConfiguredBuckets,
  type ObjectStorageConfig,
} from "./create-blob-store.ts";
export { expireObjects } from "./expire-objects.ts";
export { storageJobs } from "./storage-jobs.ts";
