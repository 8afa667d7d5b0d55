import { generateKeyPairSync, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fakeKmsClient,
  startFakeKms,
  type FakeKms,
} from "../../../../test/fakes/fake-kms.ts";
import { createTestDatabase, type TestDatabase } from "../../../../test/db.ts";
import { EncryptionTypeChangedError, loadDataKey } from "../data-key.ts";
import { createRsaKeyWrapper } from "../rsa-key.ts";
import { signJwt } from "../signing-key.ts";
import { createKmsKeyWrapper } from "./kms-key-wrapper.ts";
import { createKmsSigningKey } from "./kms-signing-key.ts";

let kms: FakeKms;
beforeAll(async () => {
  kms = await startFakeKms();
});
afterAll(async () => kms.close());

describe("KMS key wrapper", () => {
  it("wraps a data key with KMS Encrypt and unwraps it with Decrypt", async () => {
    const wrapper = createKmsKeyWrapper({
      client: fakeKmsClient(kms),
      keyId: kms.encryptionKeyId,
    });
    const dataKey = Buffer.alloc(32, 9);
    const wrapped = await wrapper.wrap(dataKey);
    expect(wrapped.toString("hex")).not.toContain(dataKey.toString("hex"));
    expect(await wrapper.unwrap(wrapped)).toEqual(dataKey);
    expect(kms.calls).toEqual(expect.arrayContaining(["Encrypt", "Decrypt"]));
  });

  it("refuses to unwrap with another key, or a tampered blob", async () => {
    const client = fakeKmsClient(kms);
    const wrapped = await createKmsKeyWrapper({
      client,
      keyId: kms.encryptionKeyId,
    }).wrap(Buffer.alloc(32, 1));
    const other = createKmsKeyWrapper({ client, keyId: kms.addSymmetricKey() });
    await expect(other.unwrap(wrapped)).rejects.toMatchObject({
      name: "IncorrectKeyException",
    });
    const tampered = Buffer.from(wrapped);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    await expect(
      createKmsKeyWrapper({ client, keyId: kms.encryptionKeyId }).unwrap(
        tampered,
      ),
    ).rejects.toMatchObject({ name: "InvalidCiphertextException" });
  });
});

describe("KMS signing key", () => {
  it("signs RS256 through KMS Sign; the GetPublicKey key verifies it", async () => {
    const key = await createKmsSigningKey({
      client: fakeKmsClient(kms),
      keyId: kms.signingKeyId,
    });
    const data = Buffer.from("header.payload");
    const signature = await key.sign(data);
    expect(verify("sha256", data, key.publicKey, signature)).toBe(true);
    const jwt = await signJwt(key, { sub: "x" });
    expect(jwt.split(".")).toHaveLength(3);
    expect(kms.calls).toEqual(expect.arrayContaining(["GetPublicKey", "Sign"]));
  });

  it("refuses a key that cannot sign", async () => {
    await expect(
      createKmsSigningKey({
        client: fakeKmsClient(kms),
        keyId: kms.encryptionKeyId,
      }),
    ).rejects.toThrow(/symmetric key/);
  });
});

describe("data key wrapped by KMS", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t.destroy());

  it("is created once and unwrapped on every later start", async () => {
    const wrapper = createKmsKeyWrapper({
      client: fakeKmsClient(kms),
      keyId: kms.encryptionKeyId,
    });
    const first = await loadDataKey(t.db, wrapper);
    expect(first.type).toBe("kms");
    const later = await loadDataKey(t.db, wrapper);
    expect(later.decrypt(first.encrypt("s3cr3t")).toString()).toBe("s3cr3t");
    const rows = await t.db.selectFrom("encryption_keys").selectAll().execute();
    expect(rows.map((r) => r.type)).toEqual(["kms"]);
  });

  it("refuses to start in RSA mode once set up with KMS", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await expect(
      loadDataKey(t.db, createRsaKeyWrapper(privateKey)),
    ).rejects.toThrow(EncryptionTypeChangedError);
    await expect(
      loadDataKey(t.db, createRsaKeyWrapper(privateKey)),
    ).rejects.toThrow(/set up with "kms"/);
  });

  it("refuses another KMS key than the one the installation was set up with", async () => {
    const wrapper = createKmsKeyWrapper({
      client: fakeKmsClient(kms),
      keyId: kms.addSymmetricKey(),
    });
    await expect(loadDataKey(t.db, wrapper)).rejects.toThrow(
      /Restore the original key/,
    );
  });

  it("and an RSA installation refuses KMS", async () => {
    const rsaDb = await createTestDatabase();
    try {
      const { privateKey } = generateKeyPairSync("rsa", {
        modulusLength: 2048,
      });
      await loadDataKey(rsaDb.db, createRsaKeyWrapper(privateKey));
      await expect(
        loadDataKey(
          rsaDb.db,
          createKmsKeyWrapper({
            client: fakeKmsClient(kms),
            keyId: kms.encryptionKeyId,
          }),
        ),
      ).rejects.toThrow(/set up with "rsa"/);
    } finally {
      await rsaDb.destroy();
    }
  });
});
