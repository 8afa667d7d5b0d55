import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from "@azure/storage-blob";
import { ValidationError } from "../../errors.ts";
import type { BlobStore, PresignedPut } from "../blob-store.ts";
import { ObjectNotFoundError, storageCall } from "../storage-errors.ts";

export interface AzureBlobStoreOptions {
  /**
   * A storage connection string (`AccountName=...;AccountKey=...;BlobEndpoint=...`, or
   * one with a `SharedAccessSignature=`). Takes precedence over `accountUrl`.
   */
  connectionString: string | null;
  /**
   * `https://<account>.blob.core.windows.net/?<account SAS>`. A URL without a SAS would
   * need Entra ID (DefaultAzureCredential from @azure/identity), which this build lacks.
   */
  accountUrl: string | null;
  /** Tries per call (SDK default 4), and the delays between them. */
  maxTries?: number;
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  tryTimeoutMs?: number;
}

/**
 * Azure Blob Storage through @azure/storage-blob; buckets are containers. Uploads are a
 * single Put Blob, or staged blocks committed in one Put Block List for large bodies:
 * either way readers see the old blob or the new one. Presigns (service SAS) only with a
 * shared-key credential, i.e. a connection string with an AccountKey. Lifecycle
 * management policies are an ARM (management plane) API, out of reach with data-plane
 * credentials, so expiration is the `storage.expire` job's work.
 */
export function createAzureBlobStore(opts: AzureBlobStoreOptions): BlobStore {
  const pipeline: StoragePipelineOptions = {
    retryOptions: {
      maxTries: opts.maxTries ?? 3,
      retryDelayInMs: opts.retryDelayMs ?? 500,
      maxRetryDelayInMs: opts.maxRetryDelayMs ?? 5_000,
      tryTimeoutInMs: opts.tryTimeoutMs ?? 60_000,
    },
  };
  let service: BlobServiceClient;
  if (opts.connectionString) {
    service = BlobServiceClient.fromConnectionString(
      opts.connectionString,
      pipeline,
    );
  } else if (
    opts.accountUrl &&
    new URL(opts.accountUrl).searchParams.has("sig")
  ) {
    service = new BlobServiceClient(
      opts.accountUrl,
      new AnonymousCredential(),
      pipeline,
    );
  } else {
    throw new ValidationError(
      "object storage (azure): set a connection string, or an account URL that carries a SAS token (…?sv=…&sig=…); Entra ID (DefaultAzureCredential) is not supported in this build",
    );
  }
  const sharedKey =
    service.credential instanceof StorageSharedKeyCredential
      ? service.credential
      : null;
  const driver = "azure";
  const knownBuckets: string[] = [];
  const blob = (bucket: string, key: string) =>
    service.getContainerClient(bucket).getBlockBlobClient(key);

  const call = storageCall(driver);

  const sasUrl = (
    bucket: string,
    key: string,
    ttlSeconds: number,
    permissions: string,
    contentType?: string,
  ): Promise<string> =>
    blob(bucket, key).generateSasUrl({
      permissions: BlobSASPermissions.parse(permissions),
      // A minute of slack for clock skew between this host and Azure.
      startsOn: new Date(Date.now() - 60_000),
      expiresOn: new Date(Date.now() + ttlSeconds * 1000),
      ...(contentType ? { contentType } : {}),
    });

  return {
    driver,
    expiresNatively: false,
    put: (bucket, key, body, putOpts) =>
      call("put", `${bucket}/${key}`, async () => {
        await blob(bucket, key).uploadData(
          typeof body === "string" ? Buffer.from(body) : body,
          putOpts?.contentType
            ? { blobHTTPHeaders: { blobContentType: putOpts.contentType } }
            : {},
        );
      }),
    get: (bucket, key) =>
      call("get", `${bucket}/${key}`, async () => {
        try {
          // One ranged-from-0 download (resumed on the same ETag by the SDK), not the
          // parallel ranges of downloadToBuffer, which could straddle an overwrite.
          const res = await blob(bucket, key).download(0);
          const stream = res.readableStreamBody;
          if (!stream) return Buffer.alloc(0);
          const chunks: Buffer[] = [];
          for await (const chunk of stream)
            chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
          return Buffer.concat(chunks);
        } catch (err) {
          if (restCode(err) === "BlobNotFound")
            throw new ObjectNotFoundError(bucket, key);
          throw err;
        }
      }),
    head: (bucket, key) =>
      call("head", `${bucket}/${key}`, async () => {
        try {
          const p = await blob(bucket, key).getProperties();
          return {
            size: p.contentLength ?? 0,
            modifiedAt: p.lastModified ?? new Date(0),
          };
        } catch (err) {
          // HEAD responses carry the error code in a header, so BlobNotFound is visible.
          if (restStatus(err) === 404 && restCode(err) !== "ContainerNotFound")
            return null;
          throw err;
        }
      }),
    delete: (bucket, key) =>
      call("delete", `${bucket}/${key}`, async () => {
        await blob(bucket, key).deleteIfExists();
      }),
    list: (bucket, prefix) =>
      call("list", `${bucket}/${prefix}*`, async () => {
        const out: Array<{ key: string; size: number; modifiedAt: Date }> = [];
        for await (const b of service
          .getContainerClient(bucket)
          .listBlobsFlat(prefix ? { prefix } : {}))
          out.push({
            key: b.name,
            size: b.properties.contentLength ?? 0,
            modifiedAt: b.properties.lastModified,
          });
        return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }),
    async ensureBuckets(buckets) {
      for (const bucket of buckets) {
        await call("ensureBuckets", bucket, async () => {
          await service.getContainerClient(bucket).createIfNotExists();
        });
        if (!knownBuckets.includes(bucket)) knownBuckets.push(bucket);
      }
    },
    ping: () =>
      call("ping", knownBuckets[0] ?? "(account)", async () => {
        const first = knownBuckets[0];
        if (first) await service.getContainerClient(first).getProperties();
        else await service.getProperties();
      }),
    presignGet: (bucket, key, ttlSeconds) =>
      sharedKey
        ? call("presignGet", `${bucket}/${key}`, () =>
            sasUrl(bucket, key, ttlSeconds, "r"),
          )
        : Promise.resolve(null),
    presignPut: (bucket, key, ttlSeconds, putOpts) =>
      sharedKey
        ? call(
            "presignPut",
            `${bucket}/${key}`,
            async (): Promise<PresignedPut> => {
              const contentType = putOpts?.contentType;
              return {
                url: await sasUrl(bucket, key, ttlSeconds, "cw"),
                method: "PUT",
                headers: {
                  "x-ms-blob-type": "BlockBlob",
                  ...(contentType ? { "content-type": contentType } : {}),
                },
              };
            },
          )
        : Promise.resolve(null),
  };
}

function restStatus(err: unknown): number | undefined {
  return err instanceof RestError ? err.statusCode : undefined;
}

function restCode(err: unknown): string | undefined {
  if (!(err instanceof RestError)) return undefined;
  return (
    err.code ??
    (err.response?.headers.get("x-ms-error-code") as string | undefined)
  );
}
