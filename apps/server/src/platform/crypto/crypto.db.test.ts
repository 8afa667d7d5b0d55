import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { createAesEncryptor, DecryptionError } from "./encryptor.ts";
import { loadDataKey, EncryptionTypeChangedError } from "./data-key.ts";
import { createRsaKeyWrapper, loadOrCreateRsaKey } from "./rsa-key.ts";

describe("AES envelope", () => {
  const enc = createAesEncryptor("rsa", "dk_test", Buffer.alloc(32, 7));

  it("round-trips a value and never emits the plaintext", () => {
    const ct = enc.encrypt("s3cr3t-value");
    expect(ct).not.toContain("s3cr3t");
    expect(enc.decrypt(ct).toString()).toBe("s3cr3t-value");
  });

  it("detects a tampered ciphertext", () => {
    const ct = enc.encrypt("value");
    const raw = Buffer.from(ct.split(".")[2] ?? "", "base64");
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    expect(() => enc.decrypt(`v1.dk_test.${raw.toString("base64")}`)).toThrow(
      DecryptionError,
    );
  });
});

describe("data key", () => {
  let t: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-key-"));
  });
  afterAll(async () => t.destroy());

  it("generates the RSA key once, mode 0600, and reuses it", async () => {
    const first = await loadOrCreateRsaKey({
      configuredPemBase64: null,
      dataDir: dir,
    });
    expect(first.generated).toBe(true);
    expect(
      (await stat(path.join(dir, "encryption-key.pem"))).mode & 0o777,
    ).toBe(0o600);
    const second = await loadOrCreateRsaKey({
      configuredPemBase64: null,
      dataDir: dir,
    });
    expect(second.generated).toBe(false);
    expect(second.privateKey.export({ format: "pem", type: "pkcs8" })).toEqual(
      first.privateKey.export({ format: "pem", type: "pkcs8" }),
    );
  });

  it("creates one data key and unwraps the same one on every later start", async () => {
    const { privateKey } = await loadOrCreateRsaKey({
      configuredPemBase64: null,
      dataDir: dir,
    });
    const wrapper = createRsaKeyWrapper(privateKey);
    const [a, b] = await Promise.all([
      loadDataKey(t.db, wrapper),
      loadDataKey(t.db, wrapper),
    ]);
    const later = await loadDataKey(t.db, wrapper);
    expect(later.decrypt(a.encrypt("x")).toString()).toBe("x");
    expect(later.decrypt(b.encrypt("y")).toString()).toBe("y");
    const rows = await t.db.selectFrom("encryption_keys").selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.wrapped_key.toString("hex")).not.toContain(
      Buffer.alloc(32).toString("hex"),
    );
  });

  it("refuses another RSA key than the one the installation was set up with", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await expect(
      loadDataKey(t.db, createRsaKeyWrapper(privateKey)),
    ).rejects.toThrow(/Restore the original key/);
  });

  it("refuses a change of encryption type", async () => {
    const kmsLike = {
      type: "kms" as const,
      wrap: async (b: Buffer) => b,
      unwrap: async (b: Buffer) => b,
    };
    await expect(loadDataKey(t.db, kmsLike)).rejects.toThrow(
      EncryptionTypeChangedError,
    );
    await expect(loadDataKey(t.db, kmsLike)).rejects.toThrow(
      /set up with "rsa"/,
    );
  });
});
