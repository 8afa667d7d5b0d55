import { existsSync } from "node:fs";
import {
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobStoreContract } from "../../../../test/storage/blob-store.contract.ts";
import {
  MINIO_BIN,
  MINIO_CREDENTIALS,
  freePort,
  startMinio,
  type TestServer,
} from "../../../../test/storage/storage-test-servers.ts";
import { StorageUnavailableError } from "../storage-errors.ts";
import { SETUP, skipWithout } from "../../../../test/tools.ts";
import { S3_LIFECYCLE_RULE_ID, createS3BlobStore } from "./s3-blob-store.ts";

const skip = skipWithout(
  "MinIO",
  existsSync(MINIO_BIN) ? null : `no MinIO binary at ${MINIO_BIN}`,
  SETUP.toolchain,
);

const minioStore = (endpoint: string) =>
  createS3BlobStore({
    driver: "minio",
    region: null,
    endpoint,
    forcePathStyle: true,
    ...MINIO_CREDENTIALS,
    allowInsecure: false,
    maxAttempts: 2,
    connectTimeoutMs: 1_000,
  });

const lifecycleClient = (endpoint: string) =>
  new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: MINIO_CREDENTIALS,
  });

blobStoreContract(
  "s3 (MinIO)",
  async () => {
    const server = await startMinio();
    const client = lifecycleClient(server.url);
    return {
      store: minioStore(server.url),
      presigns: true,
      async readExpirationDays(bucket) {
        try {
          const res = await client.send(
            new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }),
          );
          return res.Rules?.find((r) => r.ID === S3_LIFECYCLE_RULE_ID)
            ?.Expiration?.Days;
        } catch (err) {
          if ((err as Error).name === "NoSuchLifecycleConfiguration")
            return undefined;
          throw err;
        }
      },
      breakStore: () => server.stop(),
      teardown: async () => {
        client.destroy();
        await server.stop();
      },
    };
  },
  skip,
);

describe.skipIf(skip)("s3 blob store on MinIO", () => {
  let server: TestServer;
  let client: S3Client;
  beforeAll(async () => {
    server = await startMinio();
    client = lifecycleClient(server.url);
  });
  afterAll(async () => {
    client?.destroy();
    await server?.stop();
  });

  it("keeps an operator's own lifecycle rules and updates only its own", async () => {
    const store = minioStore(server.url);
    await store.ensureBuckets(["logs"], { logs: 30 });
    const rules = async () =>
      (
        await client.send(
          new GetBucketLifecycleConfigurationCommand({ Bucket: "logs" }),
        )
      ).Rules ?? [];
    const ours = (await rules()).find((r) => r.ID === S3_LIFECYCLE_RULE_ID);
    await client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: "logs",
        LifecycleConfiguration: {
          Rules: [
            ours!,
            {
              ID: "operator-tmp",
              Status: "Enabled",
              Filter: { Prefix: "tmp/" },
              Expiration: { Days: 3 },
            },
          ],
        },
      }),
    );
    await store.ensureBuckets(["logs"], { logs: 45 });
    const after = await rules();
    expect(
      after.find((r) => r.ID === S3_LIFECYCLE_RULE_ID)?.Expiration?.Days,
    ).toBe(45);
    expect(after.find((r) => r.ID === "operator-tmp")?.Expiration?.Days).toBe(
      3,
    );

    // The bucket becomes one that keeps everything: our rule goes, the operator's stays.
    await store.ensureBuckets(["logs"]);
    expect((await rules()).map((r) => r.ID)).toEqual(["operator-tmp"]);
  });

  it("reports wrong credentials as StorageUnavailableError", async () => {
    const store = createS3BlobStore({
      driver: "minio",
      region: null,
      endpoint: server.url,
      forcePathStyle: true,
      accessKeyId: "wrong",
      secretAccessKey: "wrong-secret",
      allowInsecure: false,
      maxAttempts: 1,
    });
    const err = await store.get("logs", "k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toMatch(
      /object storage \(minio\): get logs\/k failed: InvalidAccessKeyId/,
    );
  });

  it("reports a closed port as StorageUnavailableError", async () => {
    const store = minioStore(`http://127.0.0.1:${await freePort()}`);
    const err = await store.put("logs", "k", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toMatch(
      /object storage \(minio\): put logs\/k failed: .*ECONNREFUSED/,
    );
  });
});
