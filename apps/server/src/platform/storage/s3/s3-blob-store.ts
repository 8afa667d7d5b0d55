import https from "node:https";
import {
  CreateBucketCommand,
  DeleteBucketLifecycleCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  S3Client,
  type BucketLocationConstraint,
  type LifecycleRule,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { BlobStore, PresignedPut } from "../blob-store.ts";
import { ObjectNotFoundError, storageCall } from "../storage-errors.ts";

export interface S3BlobStoreOptions {
  /** Shown in errors and `driver`: "aws" or "minio". */
  driver: string;
  /** null: us-east-1 (MinIO ignores it unless configured with a region). */
  region: string | null;
  /** null: AWS's regional endpoint. MinIO: its URL, with forcePathStyle. */
  endpoint: string | null;
  forcePathStyle: boolean;
  /** Both null: the AWS SDK's default credential chain (env, profile, IMDS, IRSA...). */
  accessKeyId: string | null;
  secretAccessKey: string | null;
  /** Skip TLS certificate verification (self-signed MinIO). */
  allowInsecure: boolean;
  /** Attempts per call, SDK default 3; each waits at most `requestTimeoutMs` of silence. */
  maxAttempts?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** The ID of the lifecycle rule Stackyard owns on each expiring bucket; other rules stay. */
export const S3_LIFECYCLE_RULE_ID = "stackyard-expiration";

/**
 * S3 through the AWS SDK v3; MinIO and other S3-compatible stores via `endpoint` and
 * path-style addressing. A PutObject is atomic for readers (S3 never exposes a partial
 * object). Presigns GET and PUT (SigV4 query strings). `ensureBuckets` creates missing
 * buckets and sets the `stackyard-expiration` lifecycle rule on expiring ones, so S3
 * itself deletes expired objects (`expiresNatively`).
 */
export function createS3BlobStore(opts: S3BlobStoreOptions): BlobStore {
  const region = opts.region ?? "us-east-1";
  const client = new S3Client({
    region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    forcePathStyle: opts.forcePathStyle,
    ...(opts.accessKeyId && opts.secretAccessKey
      ? {
          credentials: {
            accessKeyId: opts.accessKeyId,
            secretAccessKey: opts.secretAccessKey,
          },
        }
      : {}),
    maxAttempts: opts.maxAttempts ?? 3,
    // Checksums only where S3 requires them: S3-compatible stores vary in their support
    // for the newer CRC headers, and a presigned PUT must not demand one from the browser.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: {
      connectionTimeout: opts.connectTimeoutMs ?? 5_000,
      requestTimeout: opts.requestTimeoutMs ?? 60_000,
      ...(opts.allowInsecure
        ? { httpsAgent: new https.Agent({ rejectUnauthorized: false }) }
        : {}),
    },
  });
  const driver = opts.driver;
  const knownBuckets: string[] = [];

  const call = storageCall(driver);

  const putLifecycle = async (bucket: string, days: number | undefined) => {
    let rules: LifecycleRule[] = [];
    try {
      const res = await client.send(
        new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }),
      );
      rules = res.Rules ?? [];
    } catch (err) {
      if (errorName(err) !== "NoSuchLifecycleConfiguration") throw err;
    }
    const ours = rules.find((r) => r.ID === S3_LIFECYCLE_RULE_ID);
    const others = rules.filter((r) => r.ID !== S3_LIFECYCLE_RULE_ID);
    if (days === undefined) {
      // A bucket that keeps everything (states, modules) must not carry our rule.
      if (!ours) return;
      if (others.length === 0)
        await client.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }));
      else
        await client.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: bucket,
            LifecycleConfiguration: { Rules: others },
          }),
        );
      return;
    }
    if (ours?.Status === "Enabled" && ours.Expiration?.Days === days) return;
    await client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: {
          Rules: [
            ...others,
            {
              ID: S3_LIFECYCLE_RULE_ID,
              Status: "Enabled",
              Filter: { Prefix: "" },
              Expiration: { Days: days },
            },
          ],
        },
      }),
    );
  };

  return {
    driver,
    expiresNatively: true,
    put: (bucket, key, body, putOpts) =>
      call("put", `${bucket}/${key}`, async () => {
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: typeof body === "string" ? Buffer.from(body) : body,
            ...(putOpts?.contentType
              ? { ContentType: putOpts.contentType }
              : {}),
          }),
        );
      }),
    get: (bucket, key) =>
      call("get", `${bucket}/${key}`, async () => {
        try {
          const res = await client.send(
            new GetObjectCommand({ Bucket: bucket, Key: key }),
          );
          if (!res.Body) return Buffer.alloc(0);
          const bytes = await res.Body.transformToByteArray();
          return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        } catch (err) {
          if (errorName(err) === "NoSuchKey")
            throw new ObjectNotFoundError(bucket, key);
          throw err;
        }
      }),
    head: (bucket, key) =>
      call("head", `${bucket}/${key}`, async () => {
        try {
          const res = await client.send(
            new HeadObjectCommand({ Bucket: bucket, Key: key }),
          );
          return {
            size: res.ContentLength ?? 0,
            modifiedAt: res.LastModified ?? new Date(0),
          };
        } catch (err) {
          // HEAD has no body, so S3 cannot say NoSuchKey; a missing bucket fails list/put.
          if (httpStatus(err) === 404) return null;
          throw err;
        }
      }),
    delete: (bucket, key) =>
      call("delete", `${bucket}/${key}`, async () => {
        await client.send(
          new DeleteObjectCommand({ Bucket: bucket, Key: key }),
        );
      }),
    list: (bucket, prefix) =>
      call("list", `${bucket}/${prefix}*`, async () => {
        const out: Array<{ key: string; size: number; modifiedAt: Date }> = [];
        let token: string | undefined;
        do {
          const res = await client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: prefix,
              ContinuationToken: token,
            }),
          );
          for (const o of res.Contents ?? []) {
            if (o.Key === undefined) continue;
            out.push({
              key: o.Key,
              size: o.Size ?? 0,
              modifiedAt: o.LastModified ?? new Date(0),
            });
          }
          token = res.IsTruncated ? res.NextContinuationToken : undefined;
        } while (token);
        return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }),
    async ensureBuckets(buckets, expirationDays = {}) {
      for (const bucket of buckets) {
        await call("ensureBuckets", bucket, async () => {
          try {
            await client.send(new HeadBucketCommand({ Bucket: bucket }));
          } catch (err) {
            if (httpStatus(err) !== 404) throw err;
            try {
              await client.send(
                new CreateBucketCommand({
                  Bucket: bucket,
                  ...(region !== "us-east-1"
                    ? {
                        CreateBucketConfiguration: {
                          LocationConstraint:
                            region as BucketLocationConstraint,
                        },
                      }
                    : {}),
                }),
              );
            } catch (createErr) {
              // Another replica created it first.
              if (errorName(createErr) !== "BucketAlreadyOwnedByYou")
                throw createErr;
            }
          }
          await putLifecycle(bucket, expirationDays[bucket]);
        });
        if (!knownBuckets.includes(bucket)) knownBuckets.push(bucket);
      }
    },
    ping: () =>
      call("ping", knownBuckets[0] ?? "(list buckets)", async () => {
        const first = knownBuckets[0];
        if (first) await client.send(new HeadBucketCommand({ Bucket: first }));
        else await client.send(new ListBucketsCommand({ MaxBuckets: 1 }));
      }),
    presignGet: (bucket, key, ttlSeconds) =>
      call("presignGet", `${bucket}/${key}`, () =>
        getSignedUrl(
          client,
          new GetObjectCommand({ Bucket: bucket, Key: key }),
          {
            expiresIn: ttlSeconds,
          },
        ),
      ),
    presignPut: (bucket, key, ttlSeconds, putOpts) =>
      call(
        "presignPut",
        `${bucket}/${key}`,
        async (): Promise<PresignedPut> => {
          const contentType = putOpts?.contentType;
          const url = await getSignedUrl(
            client,
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              ...(contentType ? { ContentType: contentType } : {}),
            }),
            {
              expiresIn: ttlSeconds,
              ...(contentType
                ? { signableHeaders: new Set(["content-type"]) }
                : {}),
            },
          );
          return {
            url,
            method: "PUT",
            headers: contentType ? { "content-type": contentType } : {},
          };
        },
      ),
  };
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata
    ?.httpStatusCode;
}
