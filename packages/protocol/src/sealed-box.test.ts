import {
  constants,
  createCipheriv,
  generateKeyPairSync,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { describe, expect, it } from "vitest";
import { open, seal, SealedBoxError } from "./sealed-box.ts";

const pool = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe("sealed boxes", () => {
  it("open with the pool's private key to the original bytes", () => {
    const box = seal(pool.publicKey, "TF_VAR_password=hunter2");
    expect(box).not.toContain("hunter2");
    expect(open(pool.privateKey, box).toString()).toBe(
      "TF_VAR_password=hunter2",
    );
  });

  it("accept PEM strings as well as key objects", () => {
    const pem = pool.publicKey
      .export({ type: "spki", format: "pem" })
      .toString();
    const priv = pool.privateKey
      .export({ type: "pkcs8", format: "pem" })
      .toString();
    expect(
      open(priv, seal(pem, Buffer.from([0, 1, 2]))).equals(
        Buffer.from([0, 1, 2]),
      ),
    ).toBe(true);
  });

  it("cannot be opened with another key, and say which key to check", () => {
    expect(() => open(other.privateKey, seal(pool.publicKey, "x"))).toThrow(
      /STACKYARD_POOL_PRIVATE_KEY/,
    );
  });

  it("detect tampering", () => {
    const [v, k, d] = seal(pool.publicKey, "payload").split(".");
    const raw = Buffer.from(d ?? "", "base64");
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    expect(() =>
      open(pool.privateKey, `${v}.${k}.${raw.toString("base64")}`),
    ).toThrow(SealedBoxError);
  });

  it("reject text that is not a box", () => {
    expect(() => open(pool.privateKey, "hello")).toThrow(/not a sealed box/);
  });

  it("reject a box whose GCM tag is truncated", () => {
    // A well-formed box of an empty value, but authenticated with a 4-byte tag.
    const dataKey = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", dataKey, iv, {
      authTagLength: 4,
    });
    const body = Buffer.concat([cipher.update(""), cipher.final()]);
    const wrapped = publicEncrypt(
      {
        key: pool.publicKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: "sha256",
      },
      dataKey,
    );
    const box = `sb1.${wrapped.toString("base64")}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
    expect(() => open(pool.privateKey, box)).toThrow(SealedBoxError);
    expect(() => open(pool.privateKey, box)).toThrow(/too short/);
  });
});
