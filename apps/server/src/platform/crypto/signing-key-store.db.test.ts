import { createPublicKey, verify } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { loadDataKey } from "./data-key.ts";
import { loadInstanceKeys } from "./instance-keys.ts";
import { createRsaKeyWrapper, loadOrCreateRsaKey } from "./rsa-key.ts";
import { signJwt } from "./signing-key.ts";

describe("token signing key (RSA mode)", () => {
  let t: TestDatabase;
  let dir: string;
  const rsaOptions = () => ({
    type: "rsa" as const,
    rsa: { configuredPemBase64: null, dataDir: dir },
    kms: {
      encryptionKeyId: null,
      signingKeyId: null,
      region: null,
    },
  });
  beforeAll(async () => {
    t = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-signing-"));
  });
  afterAll(async () => {
    await t.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps an existing install's secrets readable and signs with a key other than the wrapping key", async () => {
    // An install set up before signing keys existed: a data key and a stored secret.
    const { privateKey: kek } = await loadOrCreateRsaKey(rsaOptions().rsa);
    const before = await loadDataKey(t.db, createRsaKeyWrapper(kek));
    const stored = before.encrypt("a secret from before the upgrade");

    const [a, b] = await Promise.all([
      loadInstanceKeys(t.db, rsaOptions()),
      loadInstanceKeys(t.db, rsaOptions()),
    ]);
    expect(a.encryptor.decrypt(stored).toString()).toBe(
      "a secret from before the upgrade",
    );

    const wrappingPublic = createPublicKey(kek)
      .export({ type: "spki", format: "pem" })
      .toString();
    const signingPublic = a.signingKey.publicKey
      .export({ type: "spki", format: "pem" })
      .toString();
    expect(signingPublic).not.toBe(wrappingPublic);
    // A token is not verifiable with the wrapping key's public half.
    const token = await signJwt(a.signingKey, { sub: "user:x" });
    const [h, p, sig] = token.split(".");
    const input = Buffer.from(`${h}.${p}`);
    const signature = Buffer.from(sig ?? "", "base64url");
    expect(verify("sha256", input, a.signingKey.publicKey, signature)).toBe(
      true,
    );
    expect(verify("sha256", input, createPublicKey(kek), signature)).toBe(
      false,
    );

    // Two racing starts settle on one key, and every later start loads the same one.
    expect(
      b.signingKey.publicKey.export({ type: "spki", format: "pem" }).toString(),
    ).toBe(signingPublic);
    const later = await loadInstanceKeys(t.db, rsaOptions());
    expect(
      later.signingKey.publicKey
        .export({ type: "spki", format: "pem" })
        .toString(),
    ).toBe(signingPublic);
    const rows = await t.db.selectFrom("signing_keys").selectAll().execute();
    expect(rows).toHaveLength(1);
  });

  it("stores the private key only encrypted under the data key", async () => {
    const rows = await t.db.selectFrom("signing_keys").selectAll().execute();
    const stored = rows[0]?.private_key_encrypted ?? "";
    expect(stored).toMatch(/^v1\.dk_/);
    expect(stored).not.toContain("PRIVATE KEY");
    const keys = await loadInstanceKeys(t.db, rsaOptions());
    expect(keys.encryptor.decrypt(stored).toString()).toContain(
      "BEGIN PRIVATE KEY",
    );
  });
});
