import { createHash, createPublicKey } from "node:crypto";
import {
  GetPublicKeyCommand,
  SignCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import type { SigningKey } from "../signing-key.ts";

const ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256";

/**
 * A SigningKey whose private half stays in KMS (ENCRYPTION_KMS_SIGNING_KEY_ID: SIGN_VERIFY,
 * RSA_4096). Every signature is one KMS `Sign` call over the SHA-256 digest of the JWS
 * signing input (MessageType DIGEST, so the 4 KiB RAW message limit never applies). The
 * public key is fetched once here with `GetPublicKey`; verification is local.
 */
export async function createKmsSigningKey(opts: {
  client: KMSClient;
  keyId: string;
}): Promise<SigningKey> {
  const { client, keyId } = opts;
  const info = await client.send(new GetPublicKeyCommand({ KeyId: keyId }));
  if (info.KeyUsage !== "SIGN_VERIFY" || !info.KeySpec?.startsWith("RSA_"))
    throw new Error(
      `KMS key ${keyId} is ${info.KeySpec ?? "?"} / ${info.KeyUsage ?? "?"}; the signing key must be an RSA key with usage SIGN_VERIFY (RSA_4096 recommended)`,
    );
  if (!info.SigningAlgorithms?.includes(ALGORITHM))
    throw new Error(`KMS key ${keyId} does not support ${ALGORITHM}`);
  if (!info.PublicKey)
    throw new Error(`KMS GetPublicKey for ${keyId} returned no key`);
  const publicKey = createPublicKey({
    key: Buffer.from(info.PublicKey),
    format: "der",
    type: "spki",
  });
  return {
    publicKey,
    async sign(data) {
      const out = await client.send(
        new SignCommand({
          KeyId: keyId,
          Message: createHash("sha256").update(data).digest(),
          MessageType: "DIGEST",
          SigningAlgorithm: ALGORITHM,
        }),
      );
      if (!out.Signature)
        throw new Error(`KMS Sign with key ${keyId} returned no signature`);
      return Buffer.from(out.Signature);
    },
  };
}
