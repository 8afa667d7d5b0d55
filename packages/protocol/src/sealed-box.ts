import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  publicEncrypt,
  privateDecrypt,
  randomBytes,
  type KeyObject,
} from "node:crypto";

/**
 * Encryption to a worker pool's public key: what the server sends a launcher that only
 * a holder of the pool's private key can read (secret environment values and mounted
 * files, the workspace of a paused run).
 *
 * Hybrid: a fresh AES-256-GCM key per box, wrapped with RSA-OAEP (SHA-256).
 * Format: `sb1.<base64 wrapped key>.<base64 iv[12] | tag[16] | ciphertext>`. The tag is
 * always the full 128 bits; `open` refuses a shorter one (GCM would accept down to 4 bytes).
 */
export class SealedBoxError extends Error {}

const OAEP = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function seal(
  publicKey: KeyObject | string,
  plaintext: Buffer | string,
): string {
  const key =
    typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const dataKey = randomBytes(32);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", dataKey, iv, {
    authTagLength: TAG_BYTES,
  });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const wrapped = publicEncrypt({ key, ...OAEP }, dataKey);
  return `sb1.${wrapped.toString("base64")}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
}

export function open(privateKey: KeyObject | string, box: string): Buffer {
  const key =
    typeof privateKey === "string" ? createPrivateKey(privateKey) : privateKey;
  const [version, wrapped, payload] = box.split(".");
  if (version !== "sb1" || !wrapped || !payload)
    throw new SealedBoxError("not a sealed box (expected sb1.<key>.<data>)");
  let dataKey: Buffer;
  try {
    dataKey = privateDecrypt({ key, ...OAEP }, Buffer.from(wrapped, "base64"));
  } catch (err) {
    throw new SealedBoxError(
      "this box was sealed to another key: check STACKYARD_POOL_PRIVATE_KEY belongs to this pool",
      { cause: err },
    );
  }
  const raw = Buffer.from(payload, "base64");
  const bodyStart = IV_BYTES + TAG_BYTES;
  if (raw.length < bodyStart)
    throw new SealedBoxError(
      `sealed box is too short to hold an IV and a ${TAG_BYTES}-byte tag`,
    );
  try {
    const decipher = createDecipheriv(
      "aes-256-gcm",
      dataKey,
      raw.subarray(0, IV_BYTES),
      { authTagLength: TAG_BYTES },
    );
    decipher.setAuthTag(raw.subarray(IV_BYTES, bodyStart));
    return Buffer.concat([
      decipher.update(raw.subarray(bodyStart)),
      decipher.final(),
    ]);
  } catch (err) {
    throw new SealedBoxError(
      "sealed box failed authentication; it was altered",
      { cause: err },
    );
  }
}
