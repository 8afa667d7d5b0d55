import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { UnauthorizedError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "./session.ts";
import type { TokenSigner } from "./token-signer.ts";

export const SESSION_TTL_SECONDS = 60 * 60;

/**
 * LOGIN policies (the policies module answers; wired in app.ts). `noPolicies`: none
 * exists, and the login keeps its behaviour without policies.
 */
export type LoginPolicyPort = (subject: {
  login: string;
  name: string;
  machine: boolean;
  admin: boolean;
  /** The teams the identity brings (the IdP's); a login policy's `team` rule replaces them. */
  teams?: string[];
  remoteIp: string;
}) => Promise<{
  noPolicies: boolean;
  allow: boolean;
  admin: boolean;
  /** Space id → role slugs (space-reader, space-writer, space-admin). */
  roles: Record<string, string[]>;
  /** The session's teams after the policies' `team` rules. */
  teams: string[];
  reasons: string[];
}>;

const ROLE_LEVELS: Record<string, "READ" | "WRITE" | "ADMIN"> = {
  "space-reader": "READ",
  "space-writer": "WRITE",
  "space-admin": "ADMIN",
};
const LEVEL_RANK = { READ: 1, WRITE: 2, ADMIN: 3 } as const;

/** The strongest level each space's role slugs give; unknown slugs give nothing. */
export function levelsOfRoles(
  roles: Record<string, string[]>,
): Record<string, "READ" | "WRITE" | "ADMIN"> {
  const out: Record<string, "READ" | "WRITE" | "ADMIN"> = {};
  for (const [space, slugs] of Object.entries(roles))
    for (const slug of slugs) {
      const level = ROLE_LEVELS[slug];
      const current = out[space];
      if (level && (!current || LEVEL_RANK[level] > LEVEL_RANK[current]))
        out[space] = level;
    }
  return out;
}

export interface IssuedApiKey {
  id: string;
  secret: string;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * Identities and sessions: API keys (id + secret, only a sha256 of the high-entropy
 * secret is stored), the break-glass admin from ADMIN_USERNAME/ADMIN_PASSWORD, and the
 * JWTs both exchange for.
 */
export function createAuthService(deps: {
  db: Database;
  signer: TokenSigner;
  admin: { username: string | null; password: string | null };
  loginPolicy?: LoginPolicyPort;
  /**
   * The last change to login policies and its author's subject: a token issued in an
   * earlier second is refused, unless it is the author's (spacelift-reference §2: a
   * change invalidates all other sessions).
   */
  lastLoginPolicyChange?: () => Promise<{ at: Date; by: string } | null>;
}) {
  const { db, signer } = deps;

  async function createApiKey(input: {
    name: string;
    admin: boolean;
    spaceId?: string;
    createdBy?: string | null;
  }): Promise<IssuedApiKey> {
    if (!input.name.trim())
      throw new ValidationError("an API key needs a name");
    const id = ulid();
    const secret = randomBytes(32).toString("hex");
    await db
      .insertInto("api_keys")
      .values({
        id,
        name: input.name,
        secret_hash: hashSecret(secret),
        is_admin: input.admin,
        space_id: input.spaceId ?? "root",
        created_by: input.createdBy ?? null,
      })
      .execute();
    return { id, secret };
  }

  /**
   * What an API key logs in as: every path that takes a key (the apiKeyUser exchange, the
   * state backend's basic auth) goes through this. Admin keys are administrative and
   * skip login policies (spacelift-reference §1.8); other keys go through them when any
   * exists: refused unless a policy allows, made admin by `admin`, granted `roles`.
   */
  async function loginOfApiKey(
    key: { id: string; name: string; is_admin: boolean },
    request: { remoteIp?: string },
  ): Promise<{
    admin: boolean;
    spaces?: Record<string, "READ" | "WRITE" | "ADMIN">;
    teams?: string[];
  }> {
    if (key.is_admin || !deps.loginPolicy) return { admin: key.is_admin };
    const verdict = await deps.loginPolicy({
      login: key.id,
      name: key.name,
      machine: true,
      admin: false,
      remoteIp: request.remoteIp ?? "",
    });
    if (verdict.noPolicies) return { admin: false };
    if (!verdict.allow)
      throw new UnauthorizedError(
        `login refused by login policy: ${verdict.reasons.join("; ")}`,
      );
    return {
      admin: verdict.admin,
      spaces: levelsOfRoles(verdict.roles),
      teams: verdict.teams,
    };
  }

  async function verifyApiKey(id: string, secret: string) {
    const key = await db
      .selectFrom("api_keys")
      .select(["id", "name", "secret_hash", "is_admin"])
      .where("id", "=", id)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    if (!key || !safeEqual(key.secret_hash, hashSecret(secret))) {
      throw new UnauthorizedError("unknown API key id or wrong secret");
    }
    await db
      .updateTable("api_keys")
      .set({ last_used_at: new Date() })
      .where("id", "=", id)
      .execute();
    return key;
  }

  return {
    createApiKey,

    /**
     * Creates the first admin API key once per installation. Returns the key (the only
     * time its secret exists outside the caller) or null when it was created before.
     * A system_settings row marks it done, so restarts and concurrent starts don't mint
     * a second one.
     */
    async bootstrapFirstAdmin(): Promise<IssuedApiKey | null> {
      return db.transaction().execute(async (tx) => {
        const claimed = await tx
          .insertInto("system_settings")
          .values({ key: "first_admin_created", value: JSON.stringify(true) })
          .onConflict((oc) => oc.column("key").doNothing())
          .executeTakeFirst();
        if (Number(claimed.numInsertedOrUpdatedRows ?? 0) === 0) return null;
        const id = ulid();
        const secret = randomBytes(32).toString("hex");
        await tx
          .insertInto("api_keys")
          .values({
            id,
            name: "first admin",
            secret_hash: hashSecret(secret),
            is_admin: true,
            space_id: "root",
          })
          .execute();
        return { id, secret };
      });
    },

    /**
     * The session of an API key presented directly (id + secret), for endpoints that take
     * basic auth instead of a session token (the state backend for users outside the
     * platform). The same checks and login policies as `exchangeApiKey`, without minting
     * a token.
     */
    async authenticateApiKey(
      id: string,
      secret: string,
      request: { remoteIp?: string } = {},
    ): Promise<Session> {
      const key = await verifyApiKey(id, secret);
      const { admin, spaces, teams } = await loginOfApiKey(key, request);
      return {
        kind: "api_key",
        id: key.id,
        name: key.name,
        admin,
        ...(spaces ? { policyGrants: spaces } : {}),
        ...(teams?.length ? { teams } : {}),
      };
    },

    /** A session token for an API key, after its login policies (`loginOfApiKey`). */
    async exchangeApiKey(
      id: string,
      secret: string,
      request: { remoteIp?: string } = {},
    ): Promise<{ token: string; expiresAt: number }> {
      const key = await verifyApiKey(id, secret);
      const { admin, spaces, teams } = await loginOfApiKey(key, request);
      return signer.sign(
        { sub: `api_key:${key.id}`, name: key.name, admin, spaces, teams },
        SESSION_TTL_SECONDS,
      );
    },

    async adminLogin(
      username: string,
      password: string,
      request: { remoteIp?: string } = {},
    ): Promise<{ token: string; expiresAt: number }> {
      const { username: u, password: p } = deps.admin;
      if (!u || !p)
        throw new UnauthorizedError(
          "break-glass login is disabled: set ADMIN_USERNAME and ADMIN_PASSWORD to enable it",
        );
      // Compare both fields without short-circuiting so timing reveals neither.
      const ok =
        safeEqual(hashSecret(username), hashSecret(u)) &&
        safeEqual(hashSecret(password), hashSecret(p));
      if (!ok) throw new UnauthorizedError("wrong username or password");
      // The break-glass login is the way back in when policies lock everyone out: login
      // policies are evaluated and an explicit `deny` refuses it, but their default
      // deny and their evaluation errors do not.
      const verdict = await deps.loginPolicy?.({
        login: u,
        name: u,
        machine: false,
        admin: true,
        remoteIp: request.remoteIp ?? "",
      });
      if (verdict && !verdict.noPolicies && !verdict.allow) {
        const explicit = verdict.reasons.filter(
          (r) => !/default is deny|failed to evaluate/.test(r),
        );
        if (explicit.length)
          throw new UnauthorizedError(
            `login refused by login policy: ${explicit.join("; ")}`,
          );
      }
      return signer.sign(
        {
          sub: `user:admin:${u}`,
          name: u,
          admin: true,
          teams: verdict && !verdict.noPolicies ? verdict.teams : undefined,
        },
        SESSION_TTL_SECONDS,
      );
    },

    async authenticate(token: string): Promise<Session> {
      const claims = await signer.verify(token);
      const change = await deps.lastLoginPolicyChange?.();
      if (
        change &&
        claims.sub !== change.by &&
        claims.iat < Math.floor(change.at.getTime() / 1000)
      )
        throw new UnauthorizedError(
          "login policies changed after this session began; log in again",
        );
      const [kind, ...rest] = claims.sub.split(":");
      if (kind === "api_key") {
        const id = rest.join(":");
        const live = await db
          .selectFrom("api_keys")
          .select("id")
          .where("id", "=", id)
          .where("deleted_at", "is", null)
          .executeTakeFirst();
        if (!live) throw new UnauthorizedError("this API key was deleted");
        return {
          kind: "api_key",
          id,
          name: claims.name,
          admin: claims.admin,
          ...(claims.spaces ? { policyGrants: claims.spaces } : {}),
          ...(claims.teams ? { teams: claims.teams } : {}),
        };
      }
      return {
        kind: "user",
        id: rest.join(":"),
        name: claims.name,
        admin: claims.admin,
        ...(claims.teams ? { teams: claims.teams } : {}),
      };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
