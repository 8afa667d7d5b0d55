import { sql } from "kysely";
import type { Database } from "../../platform/db/index.ts";
import type { AppError } from "../../platform/errors.ts";
import { identitySpaceRules, type Session } from "../auth/index.ts";
import { atLeast, type AccessLevel } from "./stack.ts";
import { AccessDeniedError, SpaceNotFoundError } from "./stack-errors.ts";
import { usableSpaceIds } from "./space-repo.ts";

/**
 * Who may do what in which space.
 *
 * - An admin session (the break-glass user, an admin API key, or a key holding an
 *   ADMIN-level role on `root`) has ADMIN everywhere.
 * - A trigger policy's session (kind `policy`) holds only its `policyGrants`.
 * - A non-admin API key or user holds the rules of its identity (auth's
 *   `identitySpaceRules`): each role binding's level in its space (role.ts
 *   `levelOfActions`: Space Reader READ, Writer WRITE, Admin ADMIN) and, for keys made
 *   before roles, the key's single space and `access_level`. A rule holds in its space
 *   and every space below it, and NONE elsewhere (ancestors included). Login policies may
 *   add levels in other spaces (and those below them) at login
 *   (`session.policyGrants`); the strongest level per space wins.
 *
 * Callers turn NONE into a NotFoundError (so a hidden resource's existence does not
 * leak) and READ-on-a-write into a ForbiddenError.
 *
 * The grant (level + visible space ids) is computed once per Session object and cached
 * for that object's lifetime. Sessions are built per request, so a key whose level or
 * space changes is re-read on its next request; a holder of a long-lived Session calls
 * `forget(session)` after changing the space tree.
 */
export interface SpaceAccess {
  accessLevel(session: Session, spaceId: string): Promise<AccessLevel>;
  /** Throws `whenHidden` (default: SpaceNotFoundError) unless the caller can at least read. */
  assertCanRead(
    session: Session,
    spaceId: string,
    whenHidden?: AppError,
  ): Promise<AccessLevel>;
  /** As assertCanRead, and throws ForbiddenError when the caller can read but not write. */
  assertCanWrite(
    session: Session,
    spaceId: string,
    whenHidden?: AppError,
  ): Promise<AccessLevel>;
  /** As assertCanWrite, for space administration (ADMIN). */
  assertCanAdmin(
    session: Session,
    spaceId: string,
    whenHidden?: AppError,
  ): Promise<AccessLevel>;
  /** Space ids the caller can read, or "all". */
  visibleSpaces(session: Session): Promise<readonly string[] | "all">;
  /** Where the caller's new stacks and contexts go when the input names no space. */
  homeSpace(session: Session): Promise<string>;
  forget(session: Session): void;
  /**
   * The spaces whose entities (worker pools, VCS integrations, contexts, policies) a
   * stack in `spaceId` may use: the space, then each ancestor reached through
   * `inherit_entities`, nearest first (space-repo `usableSpaceIds`). Not a session
   * check: a caller must also be allowed to act on the stack.
   */
  usableSpaces(spaceId: string): Promise<string[]>;
}

type Grant =
  | { admin: true }
  | {
      admin: false;
      homeSpaceId: string | null;
      /** Space id → level: the key's space and those below it, plus login-policy grants. */
      levels: ReadonlyMap<string, AccessLevel>;
    };

const RANK: Record<AccessLevel, number> = {
  NONE: 0,
  READ: 1,
  WRITE: 2,
  ADMIN: 3,
};

export function createSpaceAccess(db: Database): SpaceAccess {
  const grants = new WeakMap<Session, Promise<Grant>>();

  async function spacesBelow(spaceId: string): Promise<string[]> {
    const { rows } = await sql<{ id: string }>`
      with recursive below(id) as (
        select id from spaces where id = ${spaceId}
        union
        select s.id from spaces s join below b on s.parent_space_id = b.id
      )
      select id from below`.execute(db);
    return rows.map((r) => r.id);
  }

  async function loadGrant(session: Session): Promise<Grant> {
    if (session.admin) return { admin: true };
    if (session.kind === "policy") {
      // A trigger policy: exactly the grants it was given (its space), nothing else.
      const levels = new Map<string, AccessLevel>();
      for (const [spaceId, level] of Object.entries(session.policyGrants ?? {}))
        for (const id of await spacesBelow(spaceId))
          if (RANK[level] > RANK[levels.get(id) ?? "NONE"])
            levels.set(id, level);
      return { admin: false, homeSpaceId: null, levels };
    }
    const identity = await identitySpaceRules(db, session);
    if (identity.admin) return { admin: true };
    const levels = new Map<string, AccessLevel>();
    const grant = async (spaceId: string, level: AccessLevel) => {
      for (const id of await spacesBelow(spaceId))
        if (RANK[level] > RANK[levels.get(id) ?? "NONE"]) levels.set(id, level);
    };
    for (const rule of identity.rules) await grant(rule.spaceId, rule.level);
    // Login policies' `roles` (carried in the session token) add to the key's own access.
    for (const [spaceId, level] of Object.entries(session.policyGrants ?? {}))
      await grant(spaceId, level);
    return { admin: false, homeSpaceId: identity.homeSpaceId, levels };
  }

  function grantOf(session: Session): Promise<Grant> {
    let grant = grants.get(session);
    if (!grant) {
      grant = loadGrant(session);
      grants.set(session, grant);
      // A failed load must not be cached for the session's lifetime.
      grant.catch(() => grants.delete(session));
    }
    return grant;
  }

  async function accessLevel(
    session: Session,
    spaceId: string,
  ): Promise<AccessLevel> {
    const grant = await grantOf(session);
    if (grant.admin) return "ADMIN";
    return grant.levels.get(spaceId) ?? "NONE";
  }

  async function assertAtLeast(
    session: Session,
    spaceId: string,
    required: AccessLevel,
    whenHidden: AppError | undefined,
  ): Promise<AccessLevel> {
    const level = await accessLevel(session, spaceId);
    if (level === "NONE") throw whenHidden ?? new SpaceNotFoundError(spaceId);
    if (!atLeast(level, required)) {
      throw new AccessDeniedError(
        `forbidden: this needs ${required} access to space ${spaceId}; ${session.name} has ${level}`,
      );
    }
    return level;
  }

  return {
    accessLevel,
    assertCanRead: (session, spaceId, whenHidden) =>
      assertAtLeast(session, spaceId, "READ", whenHidden),
    assertCanWrite: (session, spaceId, whenHidden) =>
      assertAtLeast(session, spaceId, "WRITE", whenHidden),
    assertCanAdmin: (session, spaceId, whenHidden) =>
      assertAtLeast(session, spaceId, "ADMIN", whenHidden),
    async visibleSpaces(session) {
      const grant = await grantOf(session);
      return grant.admin ? "all" : [...grant.levels.keys()];
    },
    async homeSpace(session) {
      const grant = await grantOf(session);
      return grant.admin ? "root" : (grant.homeSpaceId ?? "root");
    },
    forget(session) {
      grants.delete(session);
    },
    usableSpaces: (spaceId) => usableSpaceIds(db, spaceId),
  };
}
