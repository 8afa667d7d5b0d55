import { createPrivateKey, generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { ulid } from "ulid";
import type { Database } from "../db/index.ts";
import type { Encryptor } from "./encryptor.ts";
import { createLocalSigningKey, type SigningKey } from "./signing-key.ts";

const generateRsaKeyPair = promisify(generateKeyPair);

/** 3072 bits: NIST's 128-bit level; RS256 verifiers accept any size from 2048 up. */
const SIGNING_KEY_BITS = 3072;

/**
 * RSA mode's token signing key, kept apart from the key-encryption key: generated on the
 * first start that finds none (a fresh install, or the first start after migration
 * 0013), stored in `signing_keys` as PKCS#8 PEM encrypted under the data key, and loaded
 * from there on every later start, so all replicas sign with the same key.
 *
 * Creation races between replicas are settled by the unique "one active key" index: the
 * loser's insert does nothing and it loads the winner's key.
 */
export async function loadOrCreateSigningKey(
  db: Database,
  encryptor: Pick<Encryptor, "encrypt" | "decrypt">,
): Promise<SigningKey> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const row = await db
      .selectFrom("signing_keys")
      .select(["id", "private_key_encrypted"])
      .where("active", "=", true)
      .executeTakeFirst();
    if (row) {
      let pem: string;
      try {
        pem = encryptor.decrypt(row.private_key_encrypted).toString("utf8");
      } catch (err) {
        throw new Error(`decrypting the token signing key ${row.id}`, {
          cause: err,
        });
      }
      return createLocalSigningKey(createPrivateKey(pem));
    }
    const { privateKey } = await generateRsaKeyPair("rsa", {
      modulusLength: SIGNING_KEY_BITS,
    });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const inserted = await db
      .insertInto("signing_keys")
      .values({
        id: `sk_${ulid().toLowerCase()}`,
        private_key_encrypted: encryptor.encrypt(pem),
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1)
      return createLocalSigningKey(privateKey);
  }
  throw new Error("could not create or load the token signing key");
}
