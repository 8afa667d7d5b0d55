import { z } from "zod";
import { defineJob, type JobCatalog } from "../queue/index.ts";
import type { BlobStore } from "./blob-store.ts";
import type { ObjectStorageConfig } from "./create-blob-store.ts";
import { expireObjects } from "./expire-objects.ts";

/**
 * `storage.expire` (payload `{}`), enqueued daily by the scheduler: applies bucket
 * retention with `expireObjects` on stores that do not expire objects themselves
 * (filesystem, Azure); a no-op where lifecycle rules do it (S3/MinIO, GCS).
 */
export function storageJobs(
  store: BlobStore,
  config: Pick<ObjectStorageConfig, "buckets" | "expirationDays">,
  clock: () => Date = () => new Date(),
): JobCatalog {
  return {
    "storage.expire": defineJob(z.object({}), async (_payload, ctx) => {
      if (store.expiresNatively) return;
      const results = await expireObjects(
        store,
        config.buckets,
        config.expirationDays,
        clock(),
      );
      const deleted = results.filter((r) => r.deleted > 0);
      if (deleted.length > 0)
        ctx.log.info(
          {
            deleted: Object.fromEntries(
              deleted.map((r) => [r.bucket, r.deleted]),
            ),
          },
          "storage housekeeping deleted expired objects",
        );
    }),
  };
}
