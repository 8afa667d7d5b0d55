import {
  DecryptCommand,
  EncryptCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import type { KeyWrapper } from "../encryptor.ts";

/**
 * Binds the wrapped data key to its purpose: KMS refuses to decrypt it without the same
 * context, and CloudTrail shows it on every Decrypt. Never change it: existing wrapped keys
 * would no longer unwrap.
 */
const ENCRYPTION_CONTEXT = { "stackyard:purpose": "data-key" };

/**
 * KMS mode's key-encryption key: the AES-256 data key is wrapped by KMS `Encrypt` under
 * ENCRYPTION_KMS_ENCRYPTION_KEY_ID (SYMMETRIC_DEFAULT) and unwrapped by `Decrypt` once at
 * start. The rest of the envelope (data-key.ts, encryptor.ts) is the same as in RSA mode.
 */
export function createKmsKeyWrapper(opts: {
  client: KMSClient;
  keyId: string;
}): KeyWrapper {
  const { client, keyId } = opts;
  return {
    type: "kms",
    async wrap(dataKey) {
      const out = await client.send(
        new EncryptCommand({
          KeyId: keyId,
          Plaintext: dataKey,
          EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
          EncryptionContext: ENCRYPTION_CONTEXT,
        }),
      );
      if (!out.CiphertextBlob)
        throw new Error(`KMS Encrypt with key ${keyId} returned no ciphertext`);
      return Buffer.from(out.CiphertextBlob);
    },
    async unwrap(wrapped) {
      // KeyId is given so that a blob of another key fails instead of being decrypted.
      const out = await client.send(
        new DecryptCommand({
          KeyId: keyId,
          CiphertextBlob: wrapped,
          EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
          EncryptionContext: ENCRYPTION_CONTEXT,
        }),
      );
      if (!out.Plaintext)
        throw new Error(`KMS Decrypt with key ${keyId} returned no plaintext`);
      return Buffer.from(out.Plaintext);
    },
    // Anything else (throttling, access denied, no network) is not evidence of a wrong key.
    isWrongKeyError: (err) =>
      err instanceof Error &&
      ["IncorrectKeyException", "InvalidCiphertextException"].includes(
        err.name,
      ),
  };
}
