import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { AppError } from "../errors.ts";

/**
 * Encrypts secrets at rest. Every implementation uses the same envelope: an AES-256-GCM
 * data key encrypts values; the data key itself is stored wrapped by a key-encryption
 * key (built-in RSA, or AWS KMS) and unwrapped once at start.
 *
 * Ciphertext format: `v1.<dataKeyId>.<base64(iv[12] | tag[16] | ciphertext)>`. The tag is
 * always the full 128 bits: decryption refuses a shorter payload and tells the decipher
 * the tag length, since GCM otherwise accepts a truncated tag (down to 4 bytes), which
 * makes forging a value that much cheaper.
 */
export interface Encryptor {
  readonly type: "rsa" | "kms";
  encrypt(plaintext: string | Buffer): string;
  decrypt(ciphertext: string): Buffer;
}

export interface KeyWrapper {
  readonly type: "rsa" | "kms";
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
  /**
   * Whether an `unwrap` error means "not this installation's key" (rather than, say, KMS
   * being unreachable). Without it every unwrap error is taken to mean the wrong key.
   */
  isWrongKeyError?(err: unknown): boolean;
}

export class DecryptionError extends AppError {
  override readonly code = "DECRYPTION_FAILED";
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function createAesEncryptor(
  type: "rsa" | "kms",
  keyId: string,
  dataKey: Buffer,
): Encryptor {
  if (dataKey.length !== 32)
    throw new Error("data key must be 32 bytes (AES-256)");
  return {
    type,
    encrypt(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", dataKey, iv, {
        authTagLength: TAG_BYTES,
      });
      cipher.setAAD(Buffer.from(keyId));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return `v1.${keyId}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
    },
    decrypt(ciphertext) {
      const [version, id, payload] = ciphertext.split(".");
      if (version !== "v1" || id === undefined || payload === undefined) {
        throw new DecryptionError("value is not in the v1 envelope format");
      }
      if (id !== keyId)
        throw new DecryptionError(
          `value was encrypted with data key ${id}, not the active ${keyId}`,
        );
      const raw = Buffer.from(payload, "base64");
      const bodyStart = IV_BYTES + TAG_BYTES;
      if (raw.length < bodyStart)
        throw new DecryptionError(
          `value is too short for the v1 envelope (an IV and a ${TAG_BYTES}-byte tag)`,
        );
      try {
        const decipher = createDecipheriv(
          "aes-256-gcm",
          dataKey,
          raw.subarray(0, IV_BYTES),
          { authTagLength: TAG_BYTES },
        );
        decipher.setAAD(Buffer.from(keyId));
        decipher.setAuthTag(raw.subarray(IV_BYTES, bodyStart));
        return Buffer.concat([
          decipher.update(raw.subarray(bodyStart)),
          decipher.final(),
        ]);
      } catch (err) {
        throw new DecryptionError(
          "value failed authentication; it was altered or belongs to another key",
          {
            cause: err,
          },
        );
      }
    },
  };
}
