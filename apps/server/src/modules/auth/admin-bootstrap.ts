import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { hashSecret, type IssuedApiKey } from "./auth-service.ts";

export type BootstrapOutcome =
  | { created: true; key: IssuedApiKey }
  | { created: false; existing: string[] };

/**
 * Creates an admin API key for an operator (`stackyard admin bootstrap`), against a
 * database no `stackyard up` has touched. Idempotent: when a live admin key exists it
 * creates nothing and names the existing ones, unless `force`. A transaction-scoped
 * advisory lock serializes concurrent bootstraps, so two at once make one key; the key
 * also marks `first_admin_created`, so a later `stackyard up` mints no second one.
 */
export async function bootstrapAdminKey(
  db: Database,
  opts: { force: boolean; name: string },
): Promise<BootstrapOutcome> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('stackyard.admin-bootstrap'))`.execute(
      tx,
    );
    const existing = await tx
      .selectFrom("api_keys")
      .select("id")
      .where("is_admin", "=", true)
      .where("deleted_at", "is", null)
      .orderBy("created_at")
      .execute();
    if (existing.length && !opts.force)
      return { created: false, existing: existing.map((k) => k.id) };
    const id = ulid();
    const secret = randomBytes(32).toString("hex");
    await tx
      .insertInto("api_keys")
      .values({
        id,
        name: opts.name,
        secret_hash: hashSecret(secret),
        is_admin: true,
        space_id: "root",
        access_level: null,
        created_by: "stackyard admin bootstrap",
      })
      .execute();
    await tx
      .insertInto("system_settings")
      .values({ key: "first_admin_created", value: JSON.stringify(true) })
      .onConflict((oc) => oc.column("key").doNothing())
      .execute();
    return { created: true, key: { id, secret } };
  });
}
