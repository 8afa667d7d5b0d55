import { randomBytes } from "node:crypto";
import { ulid } from "ulid";
import { AppError } from "../errors.ts";
import type { Database } from "../db/index.ts";
import {
  createAesEncryptor,
  type Encryptor,
  type KeyWrapper,
} from "./encryptor.ts";

export class EncryptionTypeChangedError extends AppError {
  override readonly code = "ENCRYPTION_TYPE_CHANGED";
}

/**
 * Loads the active data key, creating it on first start. The encryption type is recorded
 * with the key: starting with another ENCRYPTION_TYPE than the one the installation was
 * set up with is refused, since every stored secret would become unreadable.
 *
 * Creation races between replicas are settled by the unique "one active key" index: the
 * loser's insert fails and it reads the winner's key.
 */
export async function loadDataKey(
  db: Database,
  wrapper: KeyWrapper,
): Promise<Encryptor> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const row = await db
      .selectFrom("encryption_keys")
      .select(["id", "type", "wrapped_key"])
      .where("active", "=", true)
      .executeTakeFirst();
    if (row) {
      if (row.type !== wrapper.type) {
        throw new EncryptionTypeChangedError(
          `ENCRYPTION_TYPE is "${wrapper.type}" but this installation was set up with "${row.type}". The encryption type cannot be changed: set ENCRYPTION_TYPE=${row.type} (with its key) to start.`,
        );
      }
      let dataKey: Buffer;
      try {
        dataKey = await wrapper.unwrap(row.wrapped_key);
      } catch (err) {
        if (wrapper.isWrongKeyError && !wrapper.isWrongKeyError(err))
          throw new Error(
            `could not unwrap the data key with the ${row.type} key`,
            { cause: err },
          );
        throw new EncryptionTypeChangedError(
          `the ${row.type} key does not unwrap this installation's data key: it is not the key the installation was set up with. Restore the original key.`,
          { cause: err },
        );
      }
      return createAesEncryptor(wrapper.type, row.id, dataKey);
    }
    const dataKey = randomBytes(32);
    const wrapped = await wrapper.wrap(dataKey);
    const id = `dk_${ulid().toLowerCase()}`;
    const inserted = await db
      .insertInto("encryption_keys")
      .values({ id, type: wrapper.type, wrapped_key: wrapped })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1)
      return createAesEncryptor(wrapper.type, id, dataKey);
  }
  throw new Error("could not create or load the data encryption key");
}
