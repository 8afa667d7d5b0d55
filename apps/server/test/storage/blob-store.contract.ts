/**
 * The behaviour every BlobStore driver must have, as one suite each driver's test file
 * runs against a real backing server (fs: a temp dir; s3: MinIO; gcs: fake-gcs-server;
 * azure: Azurite). Not a test file itself: `blobStoreContract(...)` registers the tests.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStorageConfig } from "../../src/platform/storage/create-blob-store.ts";
import { ensureConfiguredBuckets } from "../../src/platform/storage/create-blob-store.ts";
import type { BlobStore } from "../../src/platform/storage/blob-store.ts";
import {
  presignGet,
  presignPut,
} from "../../src/platform/storage/blob-store.ts";
import { expireObjects } from "../../src/platform/storage/expire-objects.ts";
import {
  ObjectNotFoundError,
  StorageUnavailableError,
} from "../../src/platform/storage/storage-errors.ts";

export interface ContractTarget {
  store: BlobStore;
  /** Whether the driver, as set up, hands out presigned URLs. */
  presigns: boolean;
  /** Reads back the expiration rule (days) the store enforces on a bucket, if it has rules. */
  readExpirationDays?: (bucket: string) => Promise<number | undefined>;
  /** Takes the backing store away (stops the server) for the outage test. */
  breakStore(): Promise<void>;
  teardown(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Bucket names as a deployment would configure them (test-prefixed, all distinct). */
export const CONTRACT_BUCKETS: Pick<
  ObjectStorageConfig,
  "buckets" | "expirationDays"
> = {
  buckets: {
    runLogs: "t-run-logs",
    states: "t-states",
    workspaces: "t-workspaces",
    metadata: "t-metadata",
    policyInputs: "t-policy-inputs",
    uploads: "t-uploads",
    userUploadedWorkspaces: "t-user-uploaded-workspaces",
    deliveries: "t-deliveries",
    largeQueueMessages: "t-large-queue-messages",
    modules: "t-modules",
  },
  expirationDays: {
    runLogs: 60,
    deliveries: 1,
    largeQueueMessages: 2,
    metadata: 2,
    policyInputs: 7,
    uploads: 1,
    userUploadedWorkspaces: 1,
    workspaces: 7,
  },
};

/**
 * Registers the contract suite for one driver. `setup` starts the server and builds the
 * store; `skip` (the answer of `skipWithout` for the driver's server, see tools.ts) skips
 * the suite when that server is missing outside CI.
 */
export function blobStoreContract(
  name: string,
  setup: () => Promise<ContractTarget>,
  skip = false,
): void {
  describe.skipIf(skip)(`${name} blob store contract`, () => {
    let t: ContractTarget;
    const { buckets } = CONTRACT_BUCKETS;
    const logs = buckets.runLogs;
    const states = buckets.states;

    beforeAll(async () => {
      t = await setup();
      await ensureConfiguredBuckets(t.store, CONTRACT_BUCKETS);
    });
    afterAll(async () => {
      await t?.teardown();
    });

    it("stores, reads, heads, lists by prefix and deletes objects", async () => {
      const { store } = t;
      await store.put(states, "stk_a/1.json", "one");
      await store.put(states, "stk_a/2.json", Buffer.from("two"), {
        contentType: "application/json",
      });
      await store.put(states, "stk_ab/1.json", "other prefix");
      await store.put(states, "stk_b/1.json", "other");
      expect((await store.get(states, "stk_a/2.json")).toString()).toBe("two");
      const listed = await store.list(states, "stk_a/");
      expect(listed.map((o) => o.key)).toEqual([
        "stk_a/1.json",
        "stk_a/2.json",
      ]);
      expect(listed[0]).toMatchObject({ size: 3 });
      expect(listed[0]?.modifiedAt).toBeInstanceOf(Date);
      expect((await store.list(states, "")).map((o) => o.key)).toEqual([
        "stk_a/1.json",
        "stk_a/2.json",
        "stk_ab/1.json",
        "stk_b/1.json",
      ]);
      const head = await store.head(states, "stk_a/1.json");
      expect(head).toMatchObject({ size: 3 });
      expect(Math.abs(head!.modifiedAt.getTime() - Date.now())).toBeLessThan(
        60_000,
      );
      await store.delete(states, "stk_a/1.json");
      expect(await store.head(states, "stk_a/1.json")).toBeNull();
      expect((await store.list(states, "stk_a/")).map((o) => o.key)).toEqual([
        "stk_a/2.json",
      ]);
    });

    it("reports a missing object as ObjectNotFoundError, a missing head as null, and deletes a missing object quietly", async () => {
      const err = await t.store.get(states, "nope/missing").catch((e) => e);
      expect(err).toBeInstanceOf(ObjectNotFoundError);
      expect((err as Error).message).toContain(`${states}/nope/missing`);
      expect(await t.store.head(states, "nope/missing")).toBeNull();
      await expect(
        t.store.delete(states, "nope/missing"),
      ).resolves.toBeUndefined();
    });

    it("overwrites an object whole", async () => {
      await t.store.put(logs, "over/write", "a much longer first version");
      await t.store.put(logs, "over/write", "v2");
      expect((await t.store.get(logs, "over/write")).toString()).toBe("v2");
      expect(await t.store.head(logs, "over/write")).toMatchObject({ size: 2 });
    });

    it("keeps concurrent writers' objects whole (a reader sees one version)", async () => {
      const versions = Array.from({ length: 8 }, (_, i) =>
        Buffer.alloc(64 * 1024, `version-${i};`),
      );
      await Promise.all(versions.map((v) => t.store.put(logs, "race/obj", v)));
      const got = await t.store.get(logs, "race/obj");
      expect(versions.some((v) => v.equals(got))).toBe(true);
    });

    it("round-trips binary content byte for byte", async () => {
      const body = Buffer.concat([
        Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        randomBytes(4096),
      ]);
      await t.store.put(logs, "bin/all-bytes", body);
      expect((await t.store.get(logs, "bin/all-bytes")).equals(body)).toBe(
        true,
      );
      await t.store.put(logs, "bin/empty", Buffer.alloc(0));
      expect((await t.store.get(logs, "bin/empty")).length).toBe(0);
    });

    it("stores and reads a 5 MB object", async () => {
      const body = randomBytes(5 * 1024 * 1024);
      await t.store.put(states, "big/5mb", body);
      const got = await t.store.get(states, "big/5mb");
      expect(got.length).toBe(body.length);
      expect(sha256(got)).toBe(sha256(body));
      expect(await t.store.head(states, "big/5mb")).toMatchObject({
        size: body.length,
      });
    });

    it("hands out presigned GET and PUT URLs that plain fetch can use, where the driver presigns", async () => {
      const get = await presignGet(t.store, states, "stk_b/1.json", 300);
      const put = await presignPut(
        t.store,
        buckets.uploads,
        "imp/state.json",
        300,
        {
          contentType: "application/json",
        },
      );
      if (!t.presigns) {
        expect(get).toBeNull();
        expect(put).toBeNull();
        return;
      }
      expect(get).toMatch(/^https?:\/\//);
      const res = await fetch(get!);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("other");

      expect(put).not.toBeNull();
      const body = JSON.stringify({ version: 4, serial: 1 });
      const up = await fetch(put!.url, {
        method: put!.method,
        headers: put!.headers,
        body,
      });
      expect(up.status, await up.text()).toBeLessThan(300);
      expect(
        (await t.store.get(buckets.uploads, "imp/state.json")).toString(),
      ).toBe(body);
    });

    it("ensures buckets idempotently, keeping their objects", async () => {
      await ensureConfiguredBuckets(t.store, CONTRACT_BUCKETS);
      await ensureConfiguredBuckets(t.store, CONTRACT_BUCKETS);
      expect((await t.store.get(states, "stk_b/1.json")).toString()).toBe(
        "other",
      );
      await t.store.ping();
    });

    it("sets the configured expiration on expiring buckets and none on states or modules, where the store has lifecycle rules", async () => {
      if (!t.readExpirationDays) {
        expect(t.store.expiresNatively).toBe(false);
        return;
      }
      expect(t.store.expiresNatively).toBe(true);
      expect(await t.readExpirationDays(logs)).toBe(60);
      expect(await t.readExpirationDays(buckets.deliveries)).toBe(1);
      expect(await t.readExpirationDays(buckets.workspaces)).toBe(7);
      expect(await t.readExpirationDays(states)).toBeUndefined();
      expect(await t.readExpirationDays(buckets.modules)).toBeUndefined();
    });

    it("expires objects older than their bucket's retention, never in states or modules", async () => {
      const { store } = t;
      await store.put(logs, "exp/old-log", "log");
      await store.put(buckets.deliveries, "exp/delivery", "body");
      await store.put(buckets.modules, "exp/module", "module");
      const before = (await store.list(logs, "")).length;
      const now = Date.now();
      const cfg = CONTRACT_BUCKETS;

      // Two days on: deliveries (1 d) go, run logs (60 d) stay.
      let result = await expireObjects(
        store,
        cfg.buckets,
        cfg.expirationDays,
        new Date(now + 2 * DAY_MS),
      );
      expect(await store.head(buckets.deliveries, "exp/delivery")).toBeNull();
      expect(await store.head(logs, "exp/old-log")).not.toBeNull();
      expect(result.find((r) => r.bucket === buckets.deliveries)?.deleted).toBe(
        1,
      );
      expect(result.find((r) => r.bucket === logs)?.deleted).toBe(0);
      expect(result.map((r) => r.bucket)).not.toContain(states);
      expect(result.map((r) => r.bucket)).not.toContain(buckets.modules);

      // Ten years on: every run log goes; states and modules keep everything.
      result = await expireObjects(
        store,
        cfg.buckets,
        cfg.expirationDays,
        new Date(now + 3650 * DAY_MS),
      );
      expect(result.find((r) => r.bucket === logs)?.deleted).toBe(before);
      expect(await store.list(logs, "")).toEqual([]);
      expect((await store.get(states, "stk_b/1.json")).toString()).toBe(
        "other",
      );
      expect((await store.get(buckets.modules, "exp/module")).toString()).toBe(
        "module",
      );
    });

    // Last: the backing store goes away for good.
    it("surfaces an outage as StorageUnavailableError naming the driver, bucket and key", async () => {
      await t.breakStore();
      const calls: Array<[string, () => Promise<unknown>, string]> = [
        ["put", () => t.store.put(logs, "out/age", "x"), `${logs}/out/age`],
        [
          "get",
          () => t.store.get(states, "stk_b/1.json"),
          `${states}/stk_b/1.json`,
        ],
        [
          "head",
          () => t.store.head(states, "stk_b/1.json"),
          `${states}/stk_b/1.json`,
        ],
        ["list", () => t.store.list(states, "stk_"), states],
        [
          "delete",
          () => t.store.delete(states, "stk_b/1.json"),
          `${states}/stk_b/1.json`,
        ],
        ["ensureBuckets", () => t.store.ensureBuckets([states]), states],
        ["ping", () => t.store.ping(), ""],
      ];
      for (const [op, fn, target] of calls) {
        const err = await fn().then(
          () => new Error(`${op} succeeded during the outage`),
          (e: unknown) => e,
        );
        expect(err, `${op}: ${String(err)}`).toBeInstanceOf(
          StorageUnavailableError,
        );
        const message = (err as Error).message;
        expect(message).toContain(`object storage (${t.store.driver})`);
        expect(message).toContain(op);
        expect(message).toContain(target);
        expect((err as Error).cause).toBeDefined();
      }
    });
  });
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}
