import type { Database } from "../db/index.ts";
import { loadDataKey } from "./data-key.ts";
import type { Encryptor } from "./encryptor.ts";
import { createKmsClient } from "./kms/kms-client.ts";
import { createKmsKeyWrapper } from "./kms/kms-key-wrapper.ts";
import { createKmsSigningKey } from "./kms/kms-signing-key.ts";
import { createRsaKeyWrapper, loadOrCreateRsaKey } from "./rsa-key.ts";
import type { SigningKey } from "./signing-key.ts";
import { loadOrCreateSigningKey } from "./signing-key-store.ts";

export interface InstanceKeysOptions {
  type: "rsa" | "kms";
  rsa: { configuredPemBase64: string | null; dataDir: string };
  kms: {
    encryptionKeyId: string | null;
    signingKeyId: string | null;
    region: string | null;
    endpoint?: string | null;
  };
}

/**
 * The instance's two keys for ENCRYPTION_TYPE:
 * - rsa: the RSA key (configured or generated into the data dir) wraps the data key and
 *   nothing else; tokens are signed by a separate RSA key stored in the database,
 *   encrypted under the data key (signing-key-store.ts).
 * - kms: the data key is wrapped by the KMS encryption key and tokens are signed by the KMS
 *   signing key; no private key exists in this process.
 * Either way the data key is loaded (or created) with `loadDataKey`, which refuses a
 * change of type.
 */
export async function loadInstanceKeys(
  db: Database,
  opts: InstanceKeysOptions,
): Promise<{ encryptor: Encryptor; signingKey: SigningKey }> {
  if (opts.type === "rsa") {
    const { privateKey } = await loadOrCreateRsaKey(opts.rsa);
    const encryptor = await loadDataKey(db, createRsaKeyWrapper(privateKey));
    return {
      encryptor,
      signingKey: await loadOrCreateSigningKey(db, encryptor),
    };
  }
  const { encryptionKeyId, signingKeyId, region } = opts.kms;
  // The config rules require all three in KMS mode; this guards other callers.
  if (!encryptionKeyId || !signingKeyId || !region)
    throw new Error(
      "ENCRYPTION_TYPE=kms needs ENCRYPTION_KMS_ENCRYPTION_KEY_ID, ENCRYPTION_KMS_SIGNING_KEY_ID and a region",
    );
  const client = createKmsClient({ region, endpoint: opts.kms.endpoint });
  const encryptor = await loadDataKey(
    db,
    createKmsKeyWrapper({ client, keyId: encryptionKeyId }),
  );
  const signingKey = await createKmsSigningKey({
    client,
    keyId: signingKeyId,
  }).catch((err: unknown) => {
    throw new Error(`loading the KMS signing key ${signingKeyId}`, {
      cause: err,
    });
  });
  return { encryptor, signingKey };
}
