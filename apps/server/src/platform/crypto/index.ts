/**
 * Encryption of secrets at rest (envelope: AES-256-GCM data key wrapped by RSA or KMS)
 * and the RSA key that also signs tokens. No domain knowledge.
 */
export {
  createAesEncryptor,
  DecryptionError,
  type Encryptor,
  type KeyWrapper,
} from "./encryptor.ts";
export {
  loadOrCreateRsaKey,
  createRsaKeyWrapper,
  RSA_KEY_FILE,
} from "./rsa-key.ts";
export { loadDataKey, EncryptionTypeChangedError } from "./data-key.ts";
