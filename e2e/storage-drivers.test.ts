import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyDatabase } from "../apps/server/test/db.ts";
import { SETUP, skipWithout } from "../apps/server/test/tools.ts";
import {
  AZURITE_BLOB_BIN,
  FAKE_GCS_BIN,
  MINIO_BIN,
  MINIO_CREDENTIALS,
  azuriteConnectionString,
  startAzurite,
  startFakeGcs,
  startMinio,
  type TestServer,
} from "../apps/server/test/storage/storage-test-servers.ts";
import {
  createAzureBlobStore,
  createFsBlobStore,
  createGcsBlobStore,
  createS3BlobStore,
  type BlobStore,
} from "../apps/server/src/platform/storage/index.ts";
import { runConfirmApplyFlow } from "./confirm-apply-flow.ts";
import { startUp, type Stackyard } from "./run-kit.ts";

// The end-to-end run flow (confirm-apply-flow.ts) on each object-storage driver: run
// logs, workspaces awaiting confirmation and state versions all go through the driver.
// Each driver gets a real server started here (MinIO and fake-gcs-server from
// scripts/setup-toolchain.sh, Azurite from npm) and a `stackyard up` on a scratch
// database of the test Postgres, configured through the environment only.

type ScratchDatabase = Awaited<ReturnType<typeof createEmptyDatabase>>;

interface Driver {
  name: string;
  /** Why the driver cannot run here, or null. */
  missing: string | null;
  /** The command that provides what is missing. */
  setup: string;
  /** Starts the storage server (if any) and returns the env that points `up` at it. */
  start(): Promise<{
    env: Record<string, string>;
    server: TestServer | null;
    /** A client of the same storage, to check where the server put its objects. */
    store: (dataDir: string) => BlobStore;
  }>;
}

const DRIVERS: Driver[] = [
  {
    name: "filesystem",
    setup: "",
    missing: null,
    start: async () => ({
      env: { OBJECT_STORAGE_TYPE: "filesystem" },
      server: null,
      store: (dataDir) => createFsBlobStore(path.join(dataDir, "objects")),
    }),
  },
  {
    name: "minio",
    setup: SETUP.toolchain,
    missing: existsSync(MINIO_BIN) ? null : `no MinIO binary at ${MINIO_BIN}`,
    async start() {
      const server = await startMinio();
      return {
        server,
        env: {
          OBJECT_STORAGE_TYPE: "minio",
          OBJECT_STORAGE_MINIO_ENDPOINT: server.url,
          OBJECT_STORAGE_MINIO_USE_SSL: "false",
          OBJECT_STORAGE_MINIO_ACCESS_KEY_ID: MINIO_CREDENTIALS.accessKeyId,
          OBJECT_STORAGE_MINIO_SECRET_ACCESS_KEY:
            MINIO_CREDENTIALS.secretAccessKey,
          AWS_REGION: "us-east-1",
        },
        store: () =>
          createS3BlobStore({
            driver: "minio",
            region: null,
            endpoint: server.url,
            forcePathStyle: true,
            ...MINIO_CREDENTIALS,
            allowInsecure: false,
          }),
      };
    },
  },
  {
    name: "gcp",
    setup: SETUP.toolchain,
    missing: existsSync(FAKE_GCS_BIN)
      ? null
      : `no fake-gcs-server binary at ${FAKE_GCS_BIN}`,
    async start() {
      const server = await startFakeGcs();
      return {
        server,
        env: {
          OBJECT_STORAGE_TYPE: "gcp",
          GCP_PROJECT: "stackyard-test",
          STACKYARD_GCS_ENDPOINT: server.url,
        },
        store: () =>
          createGcsBlobStore({
            projectId: "stackyard-test",
            apiEndpoint: server.url,
          }),
      };
    },
  },
  {
    name: "azure",
    setup: SETUP.azurite,
    missing: AZURITE_BLOB_BIN ? null : `no azurite-blob in node_modules/.bin`,
    async start() {
      const server = await startAzurite();
      return {
        server,
        env: {
          OBJECT_STORAGE_TYPE: "azure",
          STACKYARD_AZURE_CONNECTION_STRING: azuriteConnectionString(
            server.url,
          ),
        },
        store: () =>
          createAzureBlobStore({
            connectionString: azuriteConnectionString(server.url),
            accountUrl: null,
          }),
      };
    },
  },
];

for (const driver of DRIVERS) {
  describe.skipIf(
    skipWithout(
      `the ${driver.name} storage server`,
      driver.missing,
      driver.setup,
    ),
  )(`the run flow on the ${driver.name} storage driver`, () => {
    let server: TestServer | null = null;
    let db: ScratchDatabase | undefined;
    let sy: Stackyard | undefined;
    let store: ((dataDir: string) => BlobStore) | undefined;

    beforeAll(async () => {
      const started = await driver.start();
      server = started.server;
      store = started.store;
      db = await createEmptyDatabase();
      sy = await startUp({ ...started.env, DATABASE_URL: db.url });
    }, 150_000);

    afterAll(async () => {
      await sy?.stop();
      await db?.destroy();
      await server?.stop();
    });

    it("plans, waits for confirmation, applies, and a second run is a no-op", async () => {
      if (!sy) throw new Error("stackyard up did not start");
      const { stackId } = await runConfirmApplyFlow(
        sy,
        `Greeting ${driver.name}`,
      );
      // The state version went through this driver into its server.
      const objects = await store?.(sy.dataDir).list("states", `${stackId}/`);
      expect(objects?.length ?? 0).toBeGreaterThan(0);
    }, 240_000);
  });
}
