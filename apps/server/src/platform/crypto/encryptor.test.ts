import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAesEncryptor, DecryptionError } from "./encryptor.ts";

const key = Buffer.alloc(32, 7);
const enc = createAesEncryptor("rsa", "dk_test", key);

/** A v1 value whose GCM tag is truncated to `tagBytes`, valid for that tag length. */
function withShortTag(plaintext: string, tagBytes: number): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv, {
    authTagLength: tagBytes,
  });
  cipher.setAAD(Buffer.from("dk_test"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  // The envelope has no length field: a short tag shifts the body into the tag slot.
  return `v1.dk_test.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
}

describe("AES-GCM envelope tags", () => {
  it("refuses a value authenticated by a truncated tag", () => {
    // An empty value with a 4- or 8-byte tag: the tag slot holds the short tag and nothing
    // follows, which GCM would verify if the tag length were not pinned to 16 bytes.
    for (const tagBytes of [4, 8, 12]) {
      expect(() => enc.decrypt(withShortTag("", tagBytes))).toThrow(
        DecryptionError,
      );
    }
    // With a body, the body's bytes fall into the tag slot; refused either way.
    expect(() => enc.decrypt(withShortTag("twelve bytes", 4))).toThrow(
      DecryptionError,
    );
  });

  it("refuses a payload too short to hold the IV and a full tag", () => {
    const short = `v1.dk_test.${randomBytes(20).toString("base64")}`;
    expect(() => enc.decrypt(short)).toThrow(/too short/);
  });

  it("still opens its own values, empty ones included", () => {
    expect(enc.decrypt(enc.encrypt("")).toString()).toBe("");
    expect(enc.decrypt(enc.encrypt("x")).toString()).toBe("x");
  });
});
