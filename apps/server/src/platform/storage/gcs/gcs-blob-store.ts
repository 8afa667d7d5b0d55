import { Storage, type File, type LifecycleRule } from "@google-cloud/storage";
import type { BlobStore, PresignedPut } from "../blob-store.ts";
import { ObjectNotFoundError, storageCall } from "../storage-errors.ts";

export interface GcsBlobStoreOptions {
  /** null: from Application Default Credentials. */
  projectId: string | null;
  /** null: Google's endpoint. An emulator (fake-gcs-server) URL is called without auth. */
  apiEndpoint: string | null;
  /**
   * A service-account key to sign URLs with (and to authenticate with, against Google).
   * Without one, requests use Application Default Credentials and `presignGet`/`presignPut`
   * return null: V4 signing needs a private key.
   */
  credentials?: { client_email: string; private_key: string } | null;
  /** Retries per call (library default 3), and the total time they may take. */
  maxRetries?: number;
  totalTimeoutSeconds?: number;
  requestTimeoutMs?: number;
}

/**
 * Google Cloud Storage through @google-cloud/storage. Uploads are single-request
 * (non-resumable) multipart uploads, which GCS commits atomically. `ensureBuckets` creates
 * missing buckets and sets a Delete rule with an `age` condition on expiring ones, so GCS
 * deletes expired objects itself (`expiresNatively`). V4 signed URLs need `credentials`.
 */
export function createGcsBlobStore(opts: GcsBlobStoreOptions): BlobStore {
  const storage = new Storage({
    ...(opts.projectId ? { projectId: opts.projectId } : {}),
    ...(opts.apiEndpoint ? { apiEndpoint: opts.apiEndpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    timeout: opts.requestTimeoutMs ?? 60_000,
    retryOptions: {
      autoRetry: true,
      maxRetries: opts.maxRetries ?? 3,
      totalTimeout: opts.totalTimeoutSeconds ?? 120,
      maxRetryDelay: 8,
    },
  });
  const driver = "gcs";
  const canSign = Boolean(opts.credentials);
  const knownBuckets: string[] = [];
  const file = (bucket: string, key: string): File =>
    storage.bucket(bucket).file(key);

  const call = storageCall(driver);

  const setLifecycle = async (bucket: string, days: number) => {
    const [metadata] = await storage.bucket(bucket).getMetadata();
    const rules = (metadata.lifecycle?.rule ?? []) as LifecycleRule[];
    // GCS rules have no id: ours is the Delete rule whose only condition is `age`.
    const isOurs = (r: LifecycleRule) =>
      r.action.type === "Delete" &&
      Object.keys(r.condition).length === 1 &&
      r.condition.age !== undefined;
    const current = rules.filter(isOurs);
    if (current.length === 1 && Number(current[0]?.condition.age) === days)
      return;
    await storage.bucket(bucket).setMetadata({
      lifecycle: {
        rule: [
          ...rules.filter((r) => !isOurs(r)),
          { action: { type: "Delete" }, condition: { age: days } },
        ],
      },
    });
  };

  const presign = async (
    bucket: string,
    key: string,
    ttlSeconds: number,
    action: "read" | "write",
    contentType?: string,
  ): Promise<string> => {
    const [url] = await file(bucket, key).getSignedUrl({
      version: "v4",
      action,
      expires: Date.now() + ttlSeconds * 1000,
      ...(contentType ? { contentType } : {}),
    });
    return url;
  };

  return {
    driver,
    expiresNatively: true,
    put: (bucket, key, body, putOpts) =>
      call("put", `${bucket}/${key}`, async () => {
        await file(bucket, key).save(
          typeof body === "string" ? Buffer.from(body) : body,
          {
            resumable: false,
            ...(putOpts?.contentType
              ? { contentType: putOpts.contentType }
              : {}),
          },
        );
      }),
    get: (bucket, key) =>
      call("get", `${bucket}/${key}`, async () => {
        try {
          const [data] = await file(bucket, key).download();
          return data;
        } catch (err) {
          if (apiStatus(err) === 404 && !/bucket/i.test(errorMessage(err)))
            throw new ObjectNotFoundError(bucket, key);
          throw err;
        }
      }),
    head: (bucket, key) =>
      call("head", `${bucket}/${key}`, async () => {
        try {
          const [metadata] = await file(bucket, key).getMetadata();
          return {
            size: Number(metadata.size ?? 0),
            modifiedAt: new Date(metadata.updated ?? 0),
          };
        } catch (err) {
          if (apiStatus(err) === 404 && !/bucket/i.test(errorMessage(err)))
            return null;
          throw err;
        }
      }),
    delete: (bucket, key) =>
      call("delete", `${bucket}/${key}`, async () => {
        await file(bucket, key).delete({ ignoreNotFound: true });
      }),
    list: (bucket, prefix) =>
      call("list", `${bucket}/${prefix}*`, async () => {
        const [files] = await storage
          .bucket(bucket)
          .getFiles({ prefix, autoPaginate: true });
        return files
          .map((f) => ({
            key: f.name,
            size: Number(f.metadata.size ?? 0),
            modifiedAt: new Date(f.metadata.updated ?? 0),
          }))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }),
    async ensureBuckets(buckets, expirationDays = {}) {
      for (const bucket of buckets) {
        await call("ensureBuckets", bucket, async () => {
          const [exists] = await storage.bucket(bucket).exists();
          if (!exists) {
            try {
              await storage.createBucket(bucket);
            } catch (err) {
              // Another replica created it first.
              if (apiStatus(err) !== 409) throw err;
            }
          }
          // Buckets that keep everything (states, modules) are left as they are: GCS rules
          // carry no owner, so an operator's own rules there are not ours to remove.
          const days = expirationDays[bucket];
          if (days !== undefined) await setLifecycle(bucket, days);
        });
        if (!knownBuckets.includes(bucket)) knownBuckets.push(bucket);
      }
    },
    ping: () =>
      call("ping", knownBuckets[0] ?? "(list buckets)", async () => {
        const first = knownBuckets[0];
        if (first) await storage.bucket(first).getMetadata();
        else await storage.getBuckets({ maxResults: 1, autoPaginate: false });
      }),
    presignGet: (bucket, key, ttlSeconds) =>
      canSign
        ? call("presignGet", `${bucket}/${key}`, () =>
            presign(bucket, key, ttlSeconds, "read"),
          )
        : Promise.resolve(null),
    presignPut: (bucket, key, ttlSeconds, putOpts) =>
      canSign
        ? call(
            "presignPut",
            `${bucket}/${key}`,
            async (): Promise<PresignedPut> => {
              const contentType = putOpts?.contentType;
              return {
                url: await presign(
                  bucket,
                  key,
                  ttlSeconds,
                  "write",
                  contentType,
                ),
                method: "PUT",
                headers: contentType ? { "content-type": contentType } : {},
              };
            },
          )
        : Promise.resolve(null),
  };
}

function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
