import { describe, expect, it } from "vitest";
import { loadConfig } from "../config/index.ts";
import { ValidationError } from "../errors.ts";
import { createLogger } from "../log/logger.ts";
import type { BlobStore } from "./blob-store.ts";
import { bucketExpirations, createBlobStore } from "./create-blob-store.ts";
import { storageJobs } from "./storage-jobs.ts";

const storageConfig = (env: Record<string, string>) =>
  loadConfig({
    env: { STACKYARD_DATA_DIR: "/tmp/stackyard-x", ...env },
    configFile: null,
  }).objectStorage;

describe("createBlobStore", () => {
  it("picks the driver for OBJECT_STORAGE_TYPE", () => {
    expect(createBlobStore(storageConfig({})).driver).toBe("filesystem");
    expect(
      createBlobStore(
        storageConfig({ OBJECT_STORAGE_TYPE: "aws", AWS_REGION: "eu-west-1" }),
      ),
    ).toMatchObject({ driver: "aws", expiresNatively: true });
    expect(
      createBlobStore(
        storageConfig({
          OBJECT_STORAGE_TYPE: "minio",
          OBJECT_STORAGE_MINIO_ENDPOINT: "127.0.0.1:9000",
          OBJECT_STORAGE_MINIO_ACCESS_KEY_ID: "a",
          OBJECT_STORAGE_MINIO_SECRET_ACCESS_KEY: "b",
        }),
      ).driver,
    ).toBe("minio");
    expect(
      createBlobStore(
        storageConfig({ OBJECT_STORAGE_TYPE: "gcp", GCP_PROJECT: "p" }),
      ).driver,
    ).toBe("gcs");
    expect(
      createBlobStore(
        storageConfig({
          OBJECT_STORAGE_TYPE: "azure",
          STACKYARD_AZURE_CONNECTION_STRING:
            "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/a;",
        }),
      ),
    ).toMatchObject({ driver: "azure", expiresNatively: false });
  });

  it("refuses an Azure account URL without a SAS with a message saying what to set", () => {
    expect(() =>
      createBlobStore(
        storageConfig({
          OBJECT_STORAGE_TYPE: "azure",
          OBJECT_STORAGE_AZURE_ACCOUNT_URL:
            "https://acct.blob.core.windows.net/",
        }),
      ),
    ).toThrow(ValidationError);
  });
});

describe("bucketExpirations", () => {
  it("maps every configured bucket but states and modules to its retention", () => {
    const config = storageConfig({});
    const exp = bucketExpirations(config);
    expect(exp[config.buckets.runLogs]).toBe(60);
    expect(exp[config.buckets.deliveries]).toBe(1);
    expect(exp).not.toHaveProperty(config.buckets.states);
    expect(exp).not.toHaveProperty(config.buckets.modules);
    expect(Object.keys(exp)).toHaveLength(8);
  });
});

describe("storage.expire job", () => {
  const ctx = {
    jobId: "j",
    attempt: 1,
    log: createLogger({ level: "silent", format: "json" }),
  };
  const fakeStore = (expiresNatively: boolean, calls: string[]): BlobStore =>
    ({
      driver: "fake",
      expiresNatively,
      list: (bucket: string) => {
        calls.push(`list ${bucket}`);
        return Promise.resolve([
          { key: "old", size: 1, modifiedAt: new Date("2020-01-01") },
          { key: "new", size: 1, modifiedAt: new Date("2030-01-01") },
        ]);
      },
      delete: (bucket: string, key: string) => {
        calls.push(`delete ${bucket}/${key}`);
        return Promise.resolve();
      },
    }) as unknown as BlobStore;

  it("deletes expired objects on stores without lifecycle rules", async () => {
    const calls: string[] = [];
    const config = storageConfig({});
    const jobs = storageJobs(
      fakeStore(false, calls),
      config,
      () => new Date("2026-01-01"),
    );
    await jobs["storage.expire"]!.handler({}, ctx);
    expect(calls).toContain(`delete ${config.buckets.runLogs}/old`);
    expect(calls).not.toContain(`delete ${config.buckets.runLogs}/new`);
    expect(calls.some((c) => c.includes(config.buckets.states))).toBe(false);
  });

  it("leaves expiry to the store where lifecycle rules do it", async () => {
    const calls: string[] = [];
    const jobs = storageJobs(fakeStore(true, calls), storageConfig({}));
    await jobs["storage.expire"]!.handler({}, ctx);
    expect(calls).toEqual([]);
  });
});
