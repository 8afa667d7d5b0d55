import type { KeyObject } from "node:crypto";
import {
  signingKeyOf,
  signJwt,
  verifyJwt,
  type SigningKey,
} from "../../platform/crypto/index.ts";
import { UnauthorizedError } from "../../platform/errors.ts";

/** `aud` of run tokens: they open the worker API only, never GraphQL or the state backend. */
export const RUN_TOKEN_AUDIENCE = "stackyard:worker-api";

/** What a run token grants: reporting on `run` as `worker` of `pool`. */
export interface RunTokenClaims {
  run: string;
  worker: string;
  pool: string;
  /** Unix seconds. */
  exp: number;
}

export interface RunTokenSigner {
  sign(
    claims: Omit<RunTokenClaims, "exp">,
    ttlSeconds: number,
  ): Promise<string>;
  /** Throws UnauthorizedError when the signature, issuer, audience or expiry is wrong. */
  verify(token: string): Promise<RunTokenClaims>;
}

/**
 * The bearer token a worker uses on the worker API (`runToken` in `run.assign`): an
 * RS256 JWT signed with the instance key, audience RUN_TOKEN_AUDIENCE, so a session
 * token can never pass for one and a run token is refused everywhere else (the session
 * signer checks its own audience). The token alone is not enough: the worker routes also
 * check that the run named in the path is the claim's and that the run is still held by
 * the claim's worker.
 */
export function createRunTokenSigner(opts: {
  /** The instance signing key: the RSA private key, or a KMS-backed SigningKey. */
  privateKey: KeyObject | SigningKey;
  issuer: string;
  now?: () => number;
}): RunTokenSigner {
  const key = signingKeyOf(opts.privateKey);
  const { publicKey } = key;
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    async sign(claims, ttlSeconds) {
      const iat = now();
      return signJwt(key, {
        run: claims.run,
        worker: claims.worker,
        pool: claims.pool,
        sub: `run:${claims.run}`,
        iss: opts.issuer,
        aud: RUN_TOKEN_AUDIENCE,
        iat,
        exp: iat + ttlSeconds,
      });
    },
    async verify(token) {
      let payload: Record<string, unknown>;
      try {
        payload = await verifyJwt(token, publicKey, {
          issuer: opts.issuer,
          audience: RUN_TOKEN_AUDIENCE,
          currentDate: new Date(now() * 1000),
        });
      } catch (err) {
        throw new UnauthorizedError(
          "the run token is invalid or expired; a worker gets a fresh one with each run.assign",
          { cause: err },
        );
      }
      const { run, worker, pool, exp } = payload;
      if (
        typeof run !== "string" ||
        typeof worker !== "string" ||
        typeof pool !== "string" ||
        typeof exp !== "number"
      )
        throw new UnauthorizedError(
          "the run token lacks its run, worker or pool claim",
        );
      return { run, worker, pool, exp };
    },
  };
}
