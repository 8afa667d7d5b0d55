import type { KeyObject } from "node:crypto";
import {
  signingKeyOf,
  signJwt,
  verifyJwt,
  type SigningKey,
} from "../../platform/crypto/index.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import type { StateCaller, StateScope } from "./state.ts";

/**
 * Audience of state-backend credentials. Session tokens carry the public URL as audience,
 * so neither kind of token is accepted in place of the other.
 */
export const STATE_CREDENTIALS_AUDIENCE = "stackyard:state-backend";

/** What a run's tofu puts in `backend "http"`: username, password, and when they stop working. */
export interface StateCredentials {
  /** The run id; must match the token's subject. */
  username: string;
  /** An RS256 JWT (sub = run, stk = stack, scope, exp). */
  password: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface StateCredentialSigner {
  issue(input: {
    runId: string;
    stackId: string;
    scope: StateScope;
    ttlSeconds: number;
  }): Promise<StateCredentials>;
  /** Verifies signature, issuer, audience and expiry; throws UnauthorizedError. */
  verify(username: string, password: string): Promise<StateCaller>;
}

/**
 * Run-scoped, expiring state credentials signed with the instance RSA key. They prove only
 * who the caller claims to be; whether that run may touch the state right now is checked
 * against the database on every request (state-service.ts).
 */
export function createStateCredentialSigner(opts: {
  /** The instance signing key: the RSA private key, or a KMS-backed SigningKey. */
  privateKey: KeyObject | SigningKey;
  issuer: string;
  /** Unix seconds. */
  now: () => number;
}): StateCredentialSigner {
  const key = signingKeyOf(opts.privateKey);
  const { publicKey } = key;
  return {
    async issue({ runId, stackId, scope, ttlSeconds }) {
      if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
        throw new Error(
          `state credentials need a positive TTL, got ${ttlSeconds}`,
        );
      const iat = opts.now();
      const exp = iat + ttlSeconds;
      const password = await signJwt(key, {
        stk: stackId,
        scope,
        sub: runId,
        iss: opts.issuer,
        aud: STATE_CREDENTIALS_AUDIENCE,
        iat,
        exp,
      });
      return { username: runId, password, expiresAt: exp };
    },
    async verify(username, password) {
      let payload;
      try {
        payload = await verifyJwt(password, publicKey, {
          issuer: opts.issuer,
          audience: STATE_CREDENTIALS_AUDIENCE,
          currentDate: new Date(opts.now() * 1000),
        });
      } catch (err) {
        const expired =
          err instanceof Error &&
          (err as { code?: string }).code === "ERR_JWT_EXPIRED";
        throw new UnauthorizedError(
          expired
            ? "the state credentials have expired; they are valid only for the duration of the run that received them"
            : "the state credentials are invalid",
          { cause: err },
        );
      }
      const { sub, stk, scope } = payload;
      if (
        typeof sub !== "string" ||
        typeof stk !== "string" ||
        (scope !== "read" && scope !== "write")
      )
        throw new UnauthorizedError(
          "the state credentials lack the run, stack or scope claim",
        );
      if (sub !== username)
        throw new UnauthorizedError(
          `the username ${JSON.stringify(username)} does not match the run the credentials were issued to`,
        );
      return { runId: sub, stackId: stk, scope };
    },
  };
}
