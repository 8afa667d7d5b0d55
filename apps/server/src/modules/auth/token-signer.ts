import type { KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JWK } from "jose";
import {
  signingKeyOf,
  signJwt,
  verifyJwt,
  type SigningKey,
} from "../../platform/crypto/index.ts";
import { UnauthorizedError } from "../../platform/errors.ts";

export interface SessionClaims {
  /** Subject: `user:<id>` or `api_key:<id>`. */
  sub: string;
  name: string;
  admin: boolean;
  /** Space access granted by login policies (`roles`), space id → level. */
  spaces?: Readonly<Record<string, "READ" | "WRITE" | "ADMIN">>;
  /** The session's teams (after login policies' `team` rule). */
  teams?: readonly string[];
}

export interface TokenSigner {
  sign(
    claims: SessionClaims,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: number }>;
  verify(token: string): Promise<SessionClaims & { exp: number; iat: number }>;
  /** The public signing key as a JWK Set, served at /.well-known/jwks. */
  jwks(): Promise<{ keys: JWK[] }>;
  /**
   * A JWT for another audience (run identity tokens, run-identity.ts), signed with the
   * same key and `kid` so it verifies against the published JWKS. `verify` refuses it:
   * its audience is never the session audience.
   */
  signForAudience(
    claims: Record<string, unknown> & { sub: string },
    opts: { audience: string; ttlSeconds: number },
  ): Promise<{ token: string; expiresAt: number }>;
}

/**
 * RS256 JWTs signed with the instance signing key: in RSA mode a dedicated RSA key (never
 * the one that wraps the data key); in KMS mode a SigningKey that signs
 * through KMS (ENCRYPTION_KMS_SIGNING_KEY_ID). `aud` carries the public URL, which
 * spacectl reads to find the API endpoint.
 */
export function createTokenSigner(opts: {
  /** The RSA private key, or a SigningKey whose private half lives elsewhere (KMS). */
  privateKey: KeyObject | SigningKey;
  issuer: string;
  audience: string;
  now?: () => number;
}): TokenSigner {
  const key = signingKeyOf(opts.privateKey);
  const { publicKey } = key;
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const publicJwk = (async () => {
    const jwk = await exportJWK(publicKey);
    return {
      ...jwk,
      kid: await calculateJwkThumbprint(jwk),
      alg: "RS256",
      use: "sig",
    };
  })();
  return {
    async sign(claims, ttlSeconds) {
      const iat = now();
      const exp = iat + ttlSeconds;
      const token = await signJwt(
        key,
        {
          name: claims.name,
          admin: claims.admin,
          ...(claims.spaces && Object.keys(claims.spaces).length
            ? { spaces: claims.spaces }
            : {}),
          ...(claims.teams?.length ? { teams: [...claims.teams] } : {}),
          sub: claims.sub,
          iss: opts.issuer,
          aud: opts.audience,
          iat,
          exp,
        },
        { kid: (await publicJwk).kid },
      );
      return { token, expiresAt: exp };
    },
    async jwks() {
      return { keys: [await publicJwk] };
    },
    async signForAudience(claims, { audience, ttlSeconds }) {
      if (audience === opts.audience)
        throw new Error("signForAudience never signs session tokens");
      const iat = now();
      const exp = iat + ttlSeconds;
      const token = await signJwt(
        key,
        { ...claims, iss: opts.issuer, aud: audience, iat, nbf: iat, exp },
        { kid: (await publicJwk).kid, typ: "JWT" },
      );
      return { token, expiresAt: exp };
    },
    async verify(token) {
      try {
        const payload = await verifyJwt(token, publicKey, {
          issuer: opts.issuer,
          audience: opts.audience,
          currentDate: new Date(now() * 1000),
        });
        if (typeof payload.sub !== "string" || typeof payload.exp !== "number")
          throw new Error("missing claims");
        return {
          sub: payload.sub,
          name: String(payload.name ?? ""),
          admin: payload.admin === true,
          ...(spacesClaim(payload.spaces)
            ? { spaces: spacesClaim(payload.spaces) }
            : {}),
          ...(teamsClaim(payload.teams)
            ? { teams: teamsClaim(payload.teams) }
            : {}),
          exp: payload.exp,
          iat: typeof payload.iat === "number" ? payload.iat : 0,
        };
      } catch (err) {
        throw new UnauthorizedError(
          "the token is invalid or expired; log in again",
          { cause: err },
        );
      }
    },
  };
}

/** The `spaces` claim if it is a map of space id → READ/WRITE/ADMIN; else undefined. */
function spacesClaim(
  value: unknown,
): Record<string, "READ" | "WRITE" | "ADMIN"> | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return;
  const out: Record<string, "READ" | "WRITE" | "ADMIN"> = {};
  for (const [space, level] of Object.entries(value))
    if (level === "READ" || level === "WRITE" || level === "ADMIN")
      out[space] = level;
  return Object.keys(out).length ? out : undefined;
}

/** The `teams` claim if it is a non-empty list of strings; else undefined. */
function teamsClaim(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return;
  const out = value.filter((t): t is string => typeof t === "string");
  return out.length ? out : undefined;
}
