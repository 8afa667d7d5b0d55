/**
 * Encryption of secrets at rest (envelope: AES-256-GCM data key wrapped by RSA or KMS)
 * and the key that signs tokens (a dedicated RSA key stored under the data key, or a KMS
 * signing key). No domain knowledge.
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
export { loadOrCreateSigningKey } from "./signing-key-store.ts";
export { loadInstanceKeys, type InstanceKeysOptions } from "./instance-keys.ts";
export {
  createLocalSigningKey,
  signingKeyOf,
  signJwt,
  verifyJwt,
  JWT_ALGORITHMS,
  type SigningKey,
} from "./signing-key.ts";
export {
  createKmsClient,
  createKmsKeyWrapper,
  createKmsSigningKey,
} from "./kms/index.ts";
