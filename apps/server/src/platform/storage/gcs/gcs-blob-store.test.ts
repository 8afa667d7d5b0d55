import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobStoreContract } from "../../../../test/storage/blob-store.contract.ts";
import {
  FAKE_GCS_BIN,
  freePort,
  startFakeGcs,
  type TestServer,
} from "../../../../test/storage/storage-test-servers.ts";
import { StorageUnavailableError } from "../storage-errors.ts";
import { SETUP, skipWithout } from "../../../../test/tools.ts";
import { createGcsBlobStore } from "./gcs-blob-store.ts";

const skip = skipWithout(
  "fake-gcs-server",
  existsSync(FAKE_GCS_BIN)
    ? null
    : `no fake-gcs-server binary at ${FAKE_GCS_BIN}`,
  SETUP.toolchain,
);

// A throwaway service-account key: the driver signs URLs locally with it (fake-gcs-server
// does not check signatures, Google would).
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const credentials = {
  client_email: "stackyard-test@stackyard-test.iam.gserviceaccount.com",
  private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
};

const gcsStore = (apiEndpoint: string, withKey: boolean) =>
  createGcsBlobStore({
    projectId: "stackyard-test",
    apiEndpoint,
    credentials: withKey ? credentials : null,
    maxRetries: 1,
    totalTimeoutSeconds: 10,
    requestTimeoutMs: 10_000,
  });

/**
 * fake-gcs-server accepts a bucket's `lifecycle` and drops it, so the lifecycle rules are
 * read from the bucket PATCH requests the driver sent, through this recording proxy.
 */
async function recordingProxy(target: string) {
  const lifecycles = new Map<string, unknown>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const m = /^\/storage\/v1\/b\/([^/?]+)(\?|$)/.exec(req.url ?? "");
      if (req.method === "PATCH" && m?.[1]) {
        const patch = JSON.parse(body.toString() || "{}") as {
          lifecycle?: unknown;
        };
        if (patch.lifecycle)
          lifecycles.set(decodeURIComponent(m[1]), patch.lifecycle);
      }
      const upstream = http.request(
        `${target}${req.url ?? "/"}`,
        {
          method: req.method,
          headers: { ...req.headers, host: new URL(target).host },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    lifecycles,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

blobStoreContract(
  "gcs (fake-gcs-server)",
  async () => {
    const server = await startFakeGcs();
    const proxy = await recordingProxy(server.url);
    return {
      store: gcsStore(proxy.url, true),
      presigns: true,
      async readExpirationDays(bucket) {
        const lifecycle = proxy.lifecycles.get(bucket) as
          | {
              rule: Array<{
                action: { type: string };
                condition: { age?: number };
              }>;
            }
          | undefined;
        return lifecycle?.rule.find((r) => r.action.type === "Delete")
          ?.condition.age;
      },
      breakStore: () => server.stop(),
      teardown: async () => {
        await proxy.close();
        await server.stop();
      },
    };
  },
  skip,
);

describe.skipIf(skip)("gcs blob store on fake-gcs-server", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startFakeGcs();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("does not presign without a service-account key", async () => {
    const store = gcsStore(server.url, false);
    await store.ensureBuckets(["nokey"]);
    expect(await store.presignGet?.("nokey", "k", 60)).toBeNull();
    expect(await store.presignPut?.("nokey", "k", 60)).toBeNull();
  });

  it("reports a closed port as StorageUnavailableError", async () => {
    const store = gcsStore(`http://127.0.0.1:${await freePort()}`, false);
    const err = await store.get("logs", "k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toMatch(
      /object storage \(gcs\): get logs\/k failed: .*ECONNREFUSED/,
    );
  });
});
