import type { Kysely, Selectable, Transaction } from "kysely";
import type { DB, RolesTable } from "../../platform/db/schema.ts";
import { levelOfActions, type SpaceLevel } from "./role.ts";

type Db = Kysely<DB> | Transaction<DB>;

/** The tables of identity: `api_keys`, `roles`, `role_bindings`. */

export interface ApiKeyRecord {
  id: string;
  name: string;
  description: string;
  admin: boolean;
  teams: string[];
  /** The pre-roles single space and level (migration 0004); null for binding-only keys. */
  legacy: { spaceId: string; level: SpaceLevel } | null;
  createdBy: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface RoleRecord {
  id: string;
  slug: string;
  name: string;
  description: string;
  actions: string[];
  isSystem: boolean;
}

export type BindingActor =
  | { kind: "api_key"; id: string }
  | { kind: "user"; id: string }
  | { kind: "stack"; id: string };

export interface BindingRecord {
  id: string;
  roleId: string;
  spaceId: string;
  actor: BindingActor;
}

const KEY_COLUMNS = [
  "id",
  "name",
  "description",
  "is_admin",
  "teams",
  "space_id",
  "access_level",
  "created_by",
  "created_at",
  "last_used_at",
] as const;

function toKey(r: {
  id: string;
  name: string;
  description: string;
  is_admin: boolean;
  teams: string[];
  space_id: string;
  access_level: SpaceLevel | null;
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
}): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    admin: r.is_admin,
    teams: r.teams,
    legacy: r.access_level
      ? { spaceId: r.space_id, level: r.access_level }
      : null,
    createdBy: r.created_by,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

export function toRole(r: Selectable<RolesTable>): RoleRecord {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    description: r.description,
    actions: r.actions,
    isSystem: r.is_system,
  };
}

export async function findApiKey(
  db: Db,
  id: string,
): Promise<ApiKeyRecord | null> {
  const row = await db
    .selectFrom("api_keys")
    .select(KEY_COLUMNS)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  return row ? toKey(row) : null;
}

export async function listApiKeys(db: Db): Promise<ApiKeyRecord[]> {
  const rows = await db
    .selectFrom("api_keys")
    .select(KEY_COLUMNS)
    .where("deleted_at", "is", null)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map(toKey);
}

export async function insertApiKey(
  db: Db,
  key: {
    id: string;
    name: string;
    description: string;
    admin: boolean;
    teams: string[];
    secretHash: string;
    createdBy: string | null;
  },
): Promise<void> {
  await db
    .insertInto("api_keys")
    .values({
      id: key.id,
      name: key.name,
      description: key.description,
      is_admin: key.admin,
      teams: key.teams,
      secret_hash: key.secretHash,
      // Binding-only: no legacy space level; its rights come from role bindings.
      space_id: "root",
      access_level: null,
      created_by: key.createdBy,
    })
    .execute();
}

export async function updateApiKey(
  db: Db,
  id: string,
  patch: { name?: string; description?: string; teams?: string[] },
): Promise<void> {
  if (!Object.keys(patch).length) return;
  await db
    .updateTable("api_keys")
    .set(patch)
    .where("id", "=", id)
    .where("deleted_at", "is", null)
    .execute();
}

/** Soft-deletes the key (its sessions end at once) and drops its bindings. */
export async function deleteApiKey(db: Db, id: string): Promise<void> {
  await db
    .updateTable("api_keys")
    .set({ deleted_at: new Date() })
    .where("id", "=", id)
    .execute();
  await db.deleteFrom("role_bindings").where("api_key_id", "=", id).execute();
}

export async function findRole(
  db: Db,
  idOrSlug: string,
): Promise<RoleRecord | null> {
  const row = await db
    .selectFrom("roles")
    .selectAll()
    .where((eb) => eb.or([eb("id", "=", idOrSlug), eb("slug", "=", idOrSlug)]))
    .executeTakeFirst();
  return row ? toRole(row) : null;
}

export async function listRoles(db: Db): Promise<RoleRecord[]> {
  const rows = await db
    .selectFrom("roles")
    .selectAll()
    .orderBy("is_system", "desc")
    .orderBy("name")
    .execute();
  return rows.map(toRole);
}

export async function countBindingsOfRole(
  db: Db,
  roleId: string,
): Promise<number> {
  const row = await db
    .selectFrom("role_bindings")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("role_id", "=", roleId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const ACTOR_COLUMN = {
  api_key: "api_key_id",
  user: "user_id",
  stack: "stack_id",
} as const;

function toBinding(r: {
  id: string;
  role_id: string;
  space_id: string;
  api_key_id: string | null;
  user_id: string | null;
  stack_id: string | null;
}): BindingRecord {
  const actor: BindingActor = r.api_key_id
    ? { kind: "api_key", id: r.api_key_id }
    : r.user_id
      ? { kind: "user", id: r.user_id }
      : { kind: "stack", id: r.stack_id ?? "" };
  return { id: r.id, roleId: r.role_id, spaceId: r.space_id, actor };
}

export async function insertBinding(
  db: Db,
  binding: BindingRecord,
): Promise<void> {
  await db
    .insertInto("role_bindings")
    .values({
      id: binding.id,
      role_id: binding.roleId,
      space_id: binding.spaceId,
      [ACTOR_COLUMN[binding.actor.kind]]: binding.actor.id,
    })
    .execute();
}

export async function findBinding(
  db: Db,
  id: string,
  kind: BindingActor["kind"],
): Promise<BindingRecord | null> {
  const row = await db
    .selectFrom("role_bindings")
    .selectAll()
    .where("id", "=", id)
    .where(ACTOR_COLUMN[kind], "is not", null)
    .executeTakeFirst();
  return row ? toBinding(row) : null;
}

export async function bindingsOf(
  db: Db,
  actor: BindingActor,
): Promise<BindingRecord[]> {
  const rows = await db
    .selectFrom("role_bindings")
    .selectAll()
    .where(ACTOR_COLUMN[actor.kind], "=", actor.id)
    .orderBy("created_at")
    .orderBy("id")
    .execute();
  return rows.map(toBinding);
}

export async function deleteBinding(db: Db, id: string): Promise<void> {
  await db.deleteFrom("role_bindings").where("id", "=", id).execute();
}

/**
 * The space rules an actor holds: each binding's role read as a level (role.ts
 * `levelOfActions`), plus an API key's legacy space level. Not expanded to the spaces
 * below; the caller (stacks' space access) does that.
 */
export async function spaceRulesOf(
  db: Db,
  actor: BindingActor,
): Promise<Array<{ spaceId: string; level: SpaceLevel }>> {
  const rows = await db
    .selectFrom("role_bindings as b")
    .innerJoin("roles as r", "r.id", "b.role_id")
    .select(["b.space_id", "r.actions"])
    .where(`b.${ACTOR_COLUMN[actor.kind]}`, "=", actor.id)
    .execute();
  const rules: Array<{ spaceId: string; level: SpaceLevel }> = [];
  for (const r of rows) {
    const level = levelOfActions(r.actions);
    if (level) rules.push({ spaceId: r.space_id, level });
  }
  return rules;
}
