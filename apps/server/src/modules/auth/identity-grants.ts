import type { Database } from "../../platform/db/index.ts";
import type { Session } from "./session.ts";
import { spaceRulesOf } from "./identity-repo.ts";
import type { SpaceLevel } from "./role.ts";

export interface IdentityRules {
  /** An admin key, or a key or user holding an ADMIN-level role on `root`. */
  admin: boolean;
  /** Where the identity's new stacks and contexts go by default. */
  homeSpaceId: string | null;
  /** Space id → level, before expanding to the spaces below. */
  rules: Array<{ spaceId: string; level: SpaceLevel }>;
}

/**
 * The space rules an API key or user session holds from its identity: an API key's
 * admin flag, its legacy single space + level (migration 0004) and its role bindings;
 * a user's role bindings. Login-policy grants are the session's own and not included.
 * A deleted key holds nothing.
 */
export async function identitySpaceRules(
  db: Database,
  session: Pick<Session, "kind" | "id">,
): Promise<IdentityRules> {
  if (session.kind === "user") {
    const rules = await spaceRulesOf(db, { kind: "user", id: session.id });
    return { admin: isRootAdmin(rules), homeSpaceId: null, rules };
  }
  if (session.kind !== "api_key")
    return { admin: false, homeSpaceId: null, rules: [] };
  const key = await db
    .selectFrom("api_keys")
    .select(["is_admin", "space_id", "access_level"])
    .where("id", "=", session.id)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  if (!key) return { admin: false, homeSpaceId: null, rules: [] };
  const rules = await spaceRulesOf(db, { kind: "api_key", id: session.id });
  if (key.access_level)
    rules.unshift({ spaceId: key.space_id, level: key.access_level });
  return {
    admin: key.is_admin || isRootAdmin(rules),
    // A binding-only key's first bound space is its home, as its legacy space was.
    homeSpaceId: key.access_level
      ? key.space_id
      : (rules.find((r) => r.level !== "READ")?.spaceId ??
        rules[0]?.spaceId ??
        null),
    rules,
  };
}

function isRootAdmin(rules: IdentityRules["rules"]): boolean {
  return rules.some((r) => r.spaceId === "root" && r.level === "ADMIN");
}
