/** AWS KMS provider: the data-key wrapper and the token signing key (ENCRYPTION_TYPE=kms). */
export { createKmsClient } from "./kms-client.ts";
export { createKmsKeyWrapper } from "./kms-key-wrapper.ts";
export { createKmsSigningKey } from "./kms-signing-key.ts";
