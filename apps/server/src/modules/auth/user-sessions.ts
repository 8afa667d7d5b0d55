import { createHash, randomBytes } from "node:crypto";
import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import {
  hashSecret,
  levelsOfRoles,
  type LoginPolicyPort,
} from "./auth-service.ts";
import type { Session } from "./session.ts";

/** A session unused this long ends (idle expiry). */
export const SESSION_IDLE_SECONDS = 2 * 60 * 60;
/** A session ends this long after sign-in however busy it is (absolute expiry). */
export const SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60;
/** `last_seen_at` is written at most this often per session. */
const TOUCH_EVERY_SECONDS = 60;

/** Who the IdP says signed in, after its answer was verified (oidc-login.ts). */
export interface SsoIdentity {
  issuer: string;
  subject: string;
  email: string;
  name: string;
  /** IdP groups: the session's `teams`. */
  teams: string[];
}

export interface UserSession extends Session {
  kind: "user";
  email: string;
  teams: readonly string[];
  /** The CSRF token the UI sends as X-CSRF-Token with every state-changing call. */
  csrfToken: string;
  /** Absolute expiry. */
  expiresAt: Date;
}

/** Derived from the cookie secret, so it is never stored and reveals nothing of it. */
export function csrfTokenOf(secret: string): string {
  return createHash("sha256")
    .update(`csrf:${secret}`)
    .digest()
    .toString("base64url");
}

/**
 * Browser sessions of people who signed in through SSO. The cookie carries a random
 * secret; the row (by its sha256) carries the user, admin flag, IdP teams and the space
 * grants login policies gave at sign-in. A session ends on logout, after
 * SESSION_IDLE_SECONDS unused, SESSION_ABSOLUTE_SECONDS after sign-in, when SSO is
 * switched off (`ssoEnabled` false: every SSO session is refused), and when login
 * policies change after it began (spacelift-reference §2), like session tokens.
 */
export function createUserSessions(deps: {
  db: Database;
  clock: () => Date;
  loginPolicy?: LoginPolicyPort;
  lastLoginPolicyChange?: () => Promise<{ at: Date; by: string } | null>;
  /** `sso_config.admin_login`: only this email may become the SSO admin; null: the first SSO login does. */
  adminLogin: string | null;
  ssoEnabled: boolean;
}) {
  const { db, clock } = deps;

  /** Finds or creates the user; the first eligible SSO login becomes the SSO admin. */
  async function upsertUser(identity: SsoIdentity) {
    return db.transaction().execute(async (tx) => {
      const now = clock();
      let user = await tx
        .selectFrom("users")
        .select(["id", "is_admin"])
        .where("sso_issuer", "=", identity.issuer)
        .where("sso_subject", "=", identity.subject)
        .forUpdate()
        .executeTakeFirst();
      if (!user) {
        const taken = await tx
          .selectFrom("users")
          .select("id")
          .where("username", "=", identity.email)
          .executeTakeFirst();
        if (taken)
          throw new UnauthorizedError(
            `another account already uses the email ${identity.email}; ask an admin to resolve it`,
          );
        user = { id: ulid(), is_admin: false };
        await tx
          .insertInto("users")
          .values({
            id: user.id,
            username: identity.email,
            name: identity.name,
            email: identity.email,
            sso_issuer: identity.issuer,
            sso_subject: identity.subject,
          })
          .execute();
      }
      const eligible =
        deps.adminLogin === null ||
        deps.adminLogin.toLowerCase() === identity.email.toLowerCase();
      if (!user.is_admin && eligible) {
        // One SSO admin per installation: whoever claims the marker row first.
        const claimed = await tx
          .insertInto("system_settings")
          .values({ key: "sso_admin", value: JSON.stringify(user.id) })
          .onConflict((oc) => oc.column("key").doNothing())
          .executeTakeFirst();
        if (Number(claimed.numInsertedOrUpdatedRows ?? 0) > 0)
          user = { ...user, is_admin: true };
      }
      await tx
        .updateTable("users")
        .set({
          name: identity.name,
          email: identity.email,
          is_admin: user.is_admin,
          last_login_at: now,
        })
        .where("id", "=", user.id)
        .execute();
      return user;
    });
  }

  /**
   * What the login policies say (the same input as other logins, with `teams`). The SSO
   * admin keeps admin whatever they say (lock-out protection) unless a rule explicitly
   * denies; others are refused unless a policy allows, once any login policy exists.
   */
  async function decide(
    identity: SsoIdentity,
    isAdmin: boolean,
    remoteIp: string,
  ): Promise<{
    admin: boolean;
    grants: Record<string, "READ" | "WRITE" | "ADMIN">;
    /** The IdP's groups, or what the policies' `team` rules made of them. */
    teams: string[];
  }> {
    const verdict = await deps.loginPolicy?.({
      login: identity.email,
      name: identity.name,
      machine: false,
      admin: isAdmin,
      remoteIp,
      teams: identity.teams,
    });
    if (!verdict || verdict.noPolicies)
      return { admin: isAdmin, grants: {}, teams: identity.teams };
    if (isAdmin) {
      const explicit = verdict.reasons.filter(
        (r) => !/default is deny|failed to evaluate/.test(r),
      );
      if (!verdict.allow && explicit.length)
        throw new UnauthorizedError(
          `login refused by login policy: ${explicit.join("; ")}`,
        );
      return { admin: true, grants: {}, teams: verdict.teams };
    }
    if (!verdict.allow)
      throw new UnauthorizedError(
        `login refused by login policy: ${verdict.reasons.join("; ") || "no policy allows this login"}`,
      );
    return {
      admin: verdict.admin,
      grants: levelsOfRoles(verdict.roles),
      teams: verdict.teams,
    };
  }

  return {
    /** Signs the IdP's verified identity in: returns the cookie secret and the session. */
    async signIn(
      identity: SsoIdentity,
      request: { remoteIp?: string } = {},
    ): Promise<{ secret: string; session: UserSession }> {
      const user = await upsertUser(identity);
      const remoteIp = request.remoteIp ?? "";
      const { admin, grants, teams } = await decide(
        identity,
        user.is_admin,
        remoteIp,
      );
      const secret = randomBytes(32).toString("base64url");
      const now = clock();
      const expiresAt = new Date(
        now.getTime() + SESSION_ABSOLUTE_SECONDS * 1000,
      );
      await db
        .insertInto("user_sessions")
        .values({
          id: ulid(),
          secret_hash: hashSecret(secret),
          user_id: user.id,
          via: "OIDC",
          admin,
          teams: JSON.stringify(teams),
          policy_grants: JSON.stringify(grants),
          remote_ip: remoteIp,
          created_at: now,
          last_seen_at: now,
          expires_at: expiresAt,
        })
        .execute();
      return {
        secret,
        session: {
          kind: "user",
          id: user.id,
          name: identity.name,
          email: identity.email,
          admin,
          teams,
          ...(Object.keys(grants).length ? { policyGrants: grants } : {}),
          csrfToken: csrfTokenOf(secret),
          expiresAt,
        },
      };
    },

    /** The live session the cookie secret names; UnauthorizedError when it has ended. */
    async authenticate(secret: string): Promise<UserSession> {
      const now = clock();
      const row = await db
        .selectFrom("user_sessions as s")
        .innerJoin("users as u", "u.id", "s.user_id")
        .select([
          "s.id",
          "s.user_id",
          "s.admin",
          "s.teams",
          "s.policy_grants",
          "s.created_at",
          "s.last_seen_at",
          "s.expires_at",
          "s.revoked_at",
          "u.name",
          "u.email",
        ])
        .where("s.secret_hash", "=", hashSecret(secret))
        .executeTakeFirst();
      if (!row || row.revoked_at)
        throw new UnauthorizedError("signed out; sign in again");
      if (!deps.ssoEnabled)
        throw new UnauthorizedError(
          "single sign-on is disabled, which ended every SSO session",
        );
      if (row.expires_at <= now)
        throw new UnauthorizedError("the session expired; sign in again");
      const idleSince = now.getTime() - row.last_seen_at.getTime();
      if (idleSince > SESSION_IDLE_SECONDS * 1000)
        throw new UnauthorizedError(
          "the session ended after being idle; sign in again",
        );
      const change = await deps.lastLoginPolicyChange?.();
      if (
        change &&
        change.by !== `user:${row.user_id}` &&
        row.created_at < change.at
      )
        throw new UnauthorizedError(
          "login policies changed after this session began; sign in again",
        );
      if (idleSince > TOUCH_EVERY_SECONDS * 1000)
        await db
          .updateTable("user_sessions")
          .set({ last_seen_at: now })
          .where("id", "=", row.id)
          .execute();
      const grants = row.policy_grants;
      return {
        kind: "user",
        id: row.user_id,
        name: row.name,
        email: row.email ?? "",
        admin: row.admin,
        teams: row.teams,
        ...(Object.keys(grants).length ? { policyGrants: grants } : {}),
        csrfToken: csrfTokenOf(secret),
        expiresAt: row.expires_at,
      };
    },

    /** Logout: the session the secret names ends now (idempotent). */
    async signOut(secret: string): Promise<void> {
      await db
        .updateTable("user_sessions")
        .set({ revoked_at: clock() })
        .where("secret_hash", "=", hashSecret(secret))
        .where("revoked_at", "is", null)
        .execute();
    },
  };
}

export type UserSessions = ReturnType<typeof createUserSessions>;
