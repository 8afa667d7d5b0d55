import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { KeyWrapper } from "./encryptor.ts";

export const RSA_KEY_FILE = "encryption-key.pem";

/**
 * The built-in key-encryption key. From ENCRYPTION_RSA_PRIVATE_KEY when configured;
 * otherwise generated into `<dataDir>/encryption-key.pem` (0600) on first start. Losing
 * this key loses every secret, which is why it is never regenerated when present.
 */
export async function loadOrCreateRsaKey(opts: {
  configuredPemBase64: string | null;
  dataDir: string;
}): Promise<{ privateKey: KeyObject; generated: boolean }> {
  if (opts.configuredPemBase64) {
    return {
      privateKey: createPrivateKey(
        Buffer.from(opts.configuredPemBase64, "base64").toString("utf8"),
      ),
      generated: false,
    };
  }
  const file = path.join(opts.dataDir, RSA_KEY_FILE);
  if (existsSync(file)) {
    return {
      privateKey: createPrivateKey(await readFile(file, "utf8")),
      generated: false,
    };
  }
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 4096 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  // "wx": never overwrite a key another process wrote a moment ago.
  await writeFile(file, pem, { mode: 0o600, flag: "wx" });
  return { privateKey, generated: true };
}

export function createRsaKeyWrapper(privateKey: KeyObject): KeyWrapper {
  const publicKey = createPublicKey(privateKey);
  const padding = {
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: "sha256",
  };
  return {
    type: "rsa",
    wrap: async (dataKey) =>
      publicEncrypt({ key: publicKey, ...padding }, dataKey),
    unwrap: async (wrapped) =>
      privateDecrypt({ key: privateKey, ...padding }, wrapped),
  };
}
