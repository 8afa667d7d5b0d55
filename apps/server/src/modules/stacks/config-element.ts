import { createHash } from "node:crypto";
import type { Encryptor } from "../../platform/crypto/index.ts";
import type { ConfigElement, ConfigType } from "./stack.ts";
import type { ConfigElementRow } from "./config-element-repo.ts";
import {
  configInputSchema,
  parseInput,
  type ConfigInput,
} from "./stack-inputs.ts";
import type { Database } from "../../platform/db/index.ts";
import type { Session } from "../auth/index.ts";
import * as repo from "./config-element-repo.ts";

/**
 * Secrets handling for environment variables and mounted files.
 *
 * - The checksum is hex(sha256(value)) of the value string exactly as received — for a
 *   mounted file that is the base64 text. The Terraform provider compares it with
 *   sha256 of its own config value to decide whether a write-only value changed.
 * - A write-only value is stored only as Encryptor ciphertext and leaves this module
 *   only through `decryptElement`, which the run engine's `effectiveConfig` uses. Every
 *   other path presents it with `value: null`.
 */

export function checksumOf(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

export function prepareElement(
  input: Omit<ConfigInput, "description"> & { description: string },
  encryptor: Pick<Encryptor, "encrypt">,
  now: Date,
) {
  return {
    id: input.id,
    type: input.type,
    valuePlain: input.writeOnly ? null : input.value,
    valueEncrypted: input.writeOnly ? encryptor.encrypt(input.value) : null,
    writeOnly: input.writeOnly,
    checksum: checksumOf(input.value),
    description: input.description,
    now,
  };
}

export function presentElement(row: ConfigElementRow): ConfigElement {
  return {
    id: row.id,
    type: row.type,
    value: row.write_only ? null : row.value_plain,
    writeOnly: row.write_only,
    checksum: row.checksum,
    description: row.description,
    createdAt: row.created_at,
  };
}

export interface DecryptedElement {
  id: string;
  type: ConfigType;
  /** The plaintext (base64 for mounted files), write-only or not. */
  value: string;
  writeOnly: boolean;
  checksum: string;
}

export function decryptElement(
  row: ConfigElementRow,
  encryptor: Pick<Encryptor, "decrypt">,
): DecryptedElement {
  let value: string;
  if (row.write_only) {
    if (row.value_encrypted === null)
      throw new Error(`write-only config element ${row.id} has no ciphertext`);
    try {
      value = encryptor.decrypt(row.value_encrypted).toString("utf8");
    } catch (err) {
      throw new Error(
        `decrypting config element ${row.owner_type}/${row.owner_id}/${row.id}`,
        { cause: err },
      );
    }
  } else {
    value = row.value_plain ?? "";
  }
  return {
    id: row.id,
    type: row.type,
    value,
    writeOnly: row.write_only,
    checksum: row.checksum,
  };
}

/**
 * The four config-element operations a stack and a context share, bound to one owner
 * type. The caller supplies its own access checks, so each owner keeps its own rules.
 */
export function createConfigElementOps(deps: {
  db: Database;
  encryptor: Pick<Encryptor, "encrypt">;
  clock: () => Date;
  ownerType: "stack" | "context";
  /** Names the operation in validation errors, e.g. "stackConfigAdd config". */
  addLabel: string;
  readable: (session: Session, ownerId: string) => Promise<unknown>;
  writable: (session: Session, ownerId: string) => Promise<unknown>;
}) {
  const { db, encryptor, clock, ownerType } = deps;
  const owner = (id: string) => ({ type: ownerType, id });
  return {
    /** Adds or replaces an environment variable or mounted file. */
    async add(
      session: Session,
      ownerId: string,
      input: ConfigInput,
    ): Promise<ConfigElement> {
      const parsed = parseInput(configInputSchema, input, deps.addLabel);
      await deps.writable(session, ownerId);
      const row = await repo.upsertConfigRow(
        db,
        owner(ownerId),
        prepareElement(
          { ...parsed, description: parsed.description },
          encryptor,
          clock(),
        ),
      );
      return presentElement(row);
    },
    /** Deletes an element; null when the owner has no element with that id. */
    async delete(
      session: Session,
      ownerId: string,
      id: string,
    ): Promise<ConfigElement | null> {
      await deps.writable(session, ownerId);
      const row = await repo.deleteConfigRow(db, owner(ownerId), id);
      return row ? presentElement(row) : null;
    },
    async list(session: Session, ownerId: string): Promise<ConfigElement[]> {
      await deps.readable(session, ownerId);
      return (await repo.listConfigRows(db, owner(ownerId))).map(
        presentElement,
      );
    },
    async get(
      session: Session,
      ownerId: string,
      id: string,
    ): Promise<ConfigElement | null> {
      await deps.readable(session, ownerId);
      const row = await repo.findConfigRow(db, owner(ownerId), id);
      return row ? presentElement(row) : null;
    },
  };
}
