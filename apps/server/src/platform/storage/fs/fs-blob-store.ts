import { randomBytes } from "node:crypto";
import {
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { ValidationError } from "../../errors.ts";
import type { BlobStore } from "../blob-store.ts";
import { ObjectNotFoundError, storageUnavailable } from "../storage-errors.ts";

/**
 * The embedded default: each bucket is a directory under `root`, each object a file.
 * Writes go to a temporary file in the same directory and are renamed into place, which
 * is atomic on POSIX filesystems. No presigned URLs (callers proxy through the server) and
 * no native expiration (the `storage.expire` job deletes expired objects).
 */
export function createFsBlobStore(root: string): BlobStore {
  const fileFor = (bucket: string, key: string): string => {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(bucket))
      throw new ValidationError(
        `invalid bucket name ${JSON.stringify(bucket)}`,
      );
    const normalized = path.posix.normalize(key);
    if (
      !key ||
      normalized.startsWith("..") ||
      path.posix.isAbsolute(normalized) ||
      normalized !== key
    ) {
      throw new ValidationError(`invalid object key ${JSON.stringify(key)}`);
    }
    return path.join(root, bucket, ...normalized.split("/"));
  };
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ObjectNotFoundError || err instanceof ValidationError)
        throw err;
      const [operation = what, ...target] = what.split(" ");
      throw storageUnavailable(
        "filesystem",
        operation,
        target.join(" ") || root,
        err,
      );
    }
  };

  return {
    driver: "filesystem",
    expiresNatively: false,
    put: (bucket, key, body) =>
      wrap(`put ${bucket}/${key}`, async () => {
        const file = fileFor(bucket, key);
        await mkdir(path.dirname(file), { recursive: true });
        const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
        await writeFile(tmp, body, { mode: 0o600 });
        await rename(tmp, file);
      }),
    get: (bucket, key) =>
      wrap(`get ${bucket}/${key}`, async () => {
        try {
          return await readFile(fileFor(bucket, key));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT")
            throw new ObjectNotFoundError(bucket, key);
          throw err;
        }
      }),
    head: (bucket, key) =>
      wrap(`head ${bucket}/${key}`, async () => {
        try {
          const s = await stat(fileFor(bucket, key));
          return { size: s.size, modifiedAt: s.mtime };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
          throw err;
        }
      }),
    delete: (bucket, key) =>
      wrap(`delete ${bucket}/${key}`, () =>
        rm(fileFor(bucket, key), { force: true }),
      ),
    list: (bucket, prefix) =>
      wrap(`list ${bucket}/${prefix}`, async () => {
        const dir = path.join(root, bucket);
        let entries: string[];
        try {
          entries = await readdir(dir, { recursive: true });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
          throw err;
        }
        const out: Array<{ key: string; size: number; modifiedAt: Date }> = [];
        for (const rel of entries.sort()) {
          const key = rel.split(path.sep).join("/");
          if (!key.startsWith(prefix) || /\.tmp-[0-9a-f]{12}$/.test(key))
            continue;
          const s = await stat(path.join(dir, rel));
          if (s.isFile()) out.push({ key, size: s.size, modifiedAt: s.mtime });
        }
        return out;
      }),
    ensureBuckets: (buckets) =>
      wrap(`ensureBuckets ${buckets.join(",")}`, async () => {
        for (const b of buckets)
          await mkdir(path.join(root, b), { recursive: true, mode: 0o700 });
      }),
    ping: () =>
      wrap("ping", async () => {
        await mkdir(root, { recursive: true });
        await stat(root);
      }),
    presignGet: () => Promise.resolve(null),
    presignPut: () => Promise.resolve(null),
  };
}
