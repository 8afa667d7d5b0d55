import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from "@azure/storage-blob";
import { ValidationError } from "../../errors.ts";
import { blobStoreContract } from "../../../../test/storage/blob-store.contract.ts";
import {
  AZURITE_ACCOUNT,
  AZURITE_BLOB_BIN,
  azuriteConnectionString,
  freePort,
  startAzurite,
  type TestServer,
} from "../../../../test/storage/storage-test-servers.ts";
import { StorageUnavailableError } from "../storage-errors.ts";
import { SETUP, skipWithout } from "../../../../test/tools.ts";
import { createAzureBlobStore } from "./azure-blob-store.ts";

const skip = skipWithout(
  "Azurite",
  AZURITE_BLOB_BIN && existsSync(AZURITE_BLOB_BIN)
    ? null
    : "no node_modules/.bin/azurite-blob",
  SETUP.azurite,
);

const fastRetries = { maxTries: 2, retryDelayMs: 50, tryTimeoutMs: 10_000 };

blobStoreContract(
  "azure (Azurite)",
  async () => {
    const server = await startAzurite();
    return {
      store: createAzureBlobStore({
        connectionString: azuriteConnectionString(server.url),
        accountUrl: null,
        ...fastRetries,
      }),
      presigns: true,
      breakStore: () => server.stop(),
      teardown: () => server.stop(),
    };
  },
  skip,
);

describe.skipIf(skip)("azure blob store on Azurite", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startAzurite();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("works with an account URL carrying a SAS, without presigning", async () => {
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3600_000),
        permissions: AccountSASPermissions.parse("rwdlc"),
        resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
        services: AccountSASServices.parse("b").toString(),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT.name, AZURITE_ACCOUNT.key),
    ).toString();
    const store = createAzureBlobStore({
      connectionString: null,
      accountUrl: `${server.url}/${AZURITE_ACCOUNT.name}?${sas}`,
      ...fastRetries,
    });
    await store.ensureBuckets(["sas-bucket"]);
    await store.put("sas-bucket", "a/b", "hello");
    expect((await store.get("sas-bucket", "a/b")).toString()).toBe("hello");
    expect((await store.list("sas-bucket", "a/")).map((o) => o.key)).toEqual([
      "a/b",
    ]);
    expect(await store.presignGet?.("sas-bucket", "a/b", 60)).toBeNull();
  });

  it("refuses an account URL without a SAS (Entra ID is not supported)", () => {
    expect(() =>
      createAzureBlobStore({
        connectionString: null,
        accountUrl: "https://acct.blob.core.windows.net/",
      }),
    ).toThrow(ValidationError);
  });

  it("reports a closed port as StorageUnavailableError", async () => {
    const store = createAzureBlobStore({
      connectionString: azuriteConnectionString(
        `http://127.0.0.1:${await freePort()}`,
      ),
      accountUrl: null,
      ...fastRetries,
    });
    const err = await store.get("logs", "k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toMatch(
      /object storage \(azure\): get logs\/k failed: .*ECONNREFUSED/,
    );
  });
});
