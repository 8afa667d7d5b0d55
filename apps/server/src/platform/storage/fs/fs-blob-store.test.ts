import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { ObjectNotFoundError } from "../storage-errors.ts";
import { createFsBlobStore } from "./fs-blob-store.ts";
import type { BlobStore } from "../blob-store.ts";
import { blobStoreContract } from "../../../../test/storage/blob-store.contract.ts";

blobStoreContract("filesystem", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-blobs-"));
  return {
    store: createFsBlobStore(dir),
    presigns: false,
    // The root turns into a file: every call fails with ENOTDIR.
    async breakStore() {
      await rm(dir, { recursive: true, force: true });
      await writeFile(dir, "not a directory");
    },
    teardown: () => rm(dir, { recursive: true, force: true }),
  };
});

describe("filesystem blob store", () => {
  let root: string;
  let store: BlobStore;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "stackyard-blobs-"));
    store = createFsBlobStore(root);
    await store.ensureBuckets(["states", "run-logs"]);
  });

  it("stores, lists, reads and deletes objects", async () => {
    await store.put("states", "stk_a/1.json", "one");
    await store.put("states", "stk_a/2.json", Buffer.from("two"));
    await store.put("states", "stk_b/1.json", "other");
    expect((await store.get("states", "stk_a/2.json")).toString()).toBe("two");
    expect((await store.list("states", "stk_a/")).map((o) => o.key)).toEqual([
      "stk_a/1.json",
      "stk_a/2.json",
    ]);
    expect(await store.head("states", "stk_a/1.json")).toMatchObject({
      size: 3,
    });
    await store.delete("states", "stk_a/1.json");
    expect(await store.head("states", "stk_a/1.json")).toBeNull();
  });

  it("reports a missing object as ObjectNotFoundError", async () => {
    await expect(store.get("states", "nope")).rejects.toBeInstanceOf(
      ObjectNotFoundError,
    );
  });

  it("rejects keys that escape the bucket", async () => {
    await expect(store.put("states", "../escape", "x")).rejects.toThrow(
      /invalid object key/,
    );
    await expect(store.put("states", "/abs", "x")).rejects.toThrow(
      /invalid object key/,
    );
  });

  it("replaces an object atomically and leaves no temporary files behind", async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.put("run-logs", "r/log", `version-${i}`),
      ),
    );
    expect((await store.get("run-logs", "r/log")).toString()).toMatch(
      /^version-\d+$/,
    );
    expect(await readdir(path.join(root, "run-logs", "r"))).toEqual(["log"]);
  });
});
