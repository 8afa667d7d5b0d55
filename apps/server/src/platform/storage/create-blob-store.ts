import type { Config } from "../config/index.ts";
import type { BlobStore } from "./blob-store.ts";
import { createAzureBlobStore } from "./azure/azure-blob-store.ts";
import { createFsBlobStore } from "./fs/fs-blob-store.ts";
import { createGcsBlobStore } from "./gcs/gcs-blob-store.ts";
import { createS3BlobStore } from "./s3/s3-blob-store.ts";

export type ObjectStorageConfig = Config["objectStorage"];

/**
 * The driver for `OBJECT_STORAGE_TYPE`: filesystem (embedded default), aws and minio
 * (S3 API; aws falls back to the SDK's default credential chain when no keys are set),
 * gcp (Google Cloud Storage, ADC or the emulator at `apiEndpoint`), azure (connection
 * string, or an account URL carrying a SAS). Config validation has already checked that
 * the settings each type needs are present.
 */
export function createBlobStore(config: ObjectStorageConfig): BlobStore {
  switch (config.type) {
    case "filesystem":
      return createFsBlobStore(config.directory);
    case "aws":
    case "minio":
      return createS3BlobStore({ driver: config.type, ...config.s3 });
    case "gcp":
      return createGcsBlobStore({
        projectId: config.gcs.projectId,
        apiEndpoint: config.gcs.apiEndpoint,
      });
    case "azure":
      return createAzureBlobStore({
        connectionString: config.azure.connectionString,
        accountUrl: config.azure.accountUrl,
      });
  }
}

/**
 * Bucket name → expiration in days for the configured buckets that expire (every bucket
 * but states and modules), the second argument of `BlobStore.ensureBuckets`.
 */
export function bucketExpirations(
  config: Pick<ObjectStorageConfig, "buckets" | "expirationDays">,
): Record<string, number> {
  const keep = new Set([config.buckets.states, config.buckets.modules]);
  const out: Record<string, number> = {};
  for (const [name, days] of Object.entries(config.expirationDays)) {
    const bucket = config.buckets[name as keyof typeof config.buckets];
    // Config validation keeps bucket names distinct; never expire a kept bucket anyway.
    if (keep.has(bucket)) continue;
    out[bucket] = Math.max(out[bucket] ?? 0, days);
  }
  return out;
}

/** Creates every configured bucket, with its expiration rule where the store has them. */
export async function ensureConfiguredBuckets(
  store: BlobStore,
  config: Pick<ObjectStorageConfig, "buckets" | "expirationDays">,
): Promise<void> {
  await store.ensureBuckets(
    [...new Set(Object.values(config.buckets))],
    bucketExpirations(config),
  );
}
