import type { FastifyInstance } from "fastify";
import type { TokenSigner } from "./token-signer.ts";

/** Lifetime of a run identity token (spacelift-reference §7.9: 1 h). */
export const RUN_IDENTITY_TTL_SECONDS = 60 * 60;

export type RunIdentityScope = "read" | "write";

/** What a run identity token says about the run it was minted for. */
export interface RunIdentitySubject {
  spaceId: string;
  stackId: string;
  runId: string;
  runType: "TRACKED" | "PROPOSED" | "TASK" | "DESTROY";
}

/** Proposed runs only read infrastructure; every other run type may change it. */
export function scopeOfRunType(
  runType: RunIdentitySubject["runType"],
): RunIdentityScope {
  return runType === "PROPOSED" ? "read" : "write";
}

/** The audience of run identity tokens: the public URL's host (with its port, if any). */
export function runIdentityAudience(publicUrl: string): string {
  return new URL(publicUrl).host;
}

/**
 * Workload identity for runs (spacelift-reference §7.9): an OIDC ID token per run that
 * clouds (AWS AssumeRoleWithWebIdentity, GCP and Azure workload identity, Vault) can
 * trust through `/.well-known/openid-configuration` and its JWKS.
 *
 * - `iss` is the public URL, `aud` its host; `sub` is
 *   `space:<id>:stack:<id>:run_type:<T>:scope:<read|write>`; custom claims `spaceId`,
 *   `callerType` (`stack`), `callerId`, `runType`, `runId`, `scope`; valid 1 h.
 * - Signed by the server with the instance key (the same key and `kid` as sessions); the
 *   launcher only ever receives the sealed token, never the key.
 * - The audience differs from the session audience, so a run identity token never opens
 *   GraphQL, and session tokens are never accepted by a cloud trusting this audience.
 */
export function createRunIdentityIssuer(deps: {
  signer: Pick<TokenSigner, "signForAudience">;
  publicUrl: string;
}) {
  const audience = runIdentityAudience(deps.publicUrl);
  return {
    audience,
    async mint(run: RunIdentitySubject): Promise<string> {
      const scope = scopeOfRunType(run.runType);
      const { token } = await deps.signer.signForAudience(
        {
          sub: `space:${run.spaceId}:stack:${run.stackId}:run_type:${run.runType}:scope:${scope}`,
          spaceId: run.spaceId,
          callerType: "stack",
          callerId: run.stackId,
          runType: run.runType,
          runId: run.runId,
          scope,
        },
        { audience, ttlSeconds: RUN_IDENTITY_TTL_SECONDS },
      );
      return token;
    },
  };
}

export type RunIdentityIssuer = ReturnType<typeof createRunIdentityIssuer>;

/**
 * The OpenID Provider metadata for run identity tokens (OpenID Connect Discovery 1.0):
 * just enough for a relying party to find the keys and check the claims; Stackyard does
 * not run an authorization endpoint for these tokens.
 */
export function openidConfiguration(publicUrl: string) {
  return {
    issuer: publicUrl,
    jwks_uri: `${publicUrl}/.well-known/jwks`,
    response_types_supported: ["id_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    scopes_supported: ["openid"],
    claims_supported: [
      "sub",
      "iss",
      "aud",
      "iat",
      "nbf",
      "exp",
      "spaceId",
      "callerType",
      "callerId",
      "runType",
      "runId",
      "scope",
    ],
  };
}

/** `GET /.well-known/openid-configuration`, next to the JWKS at `/.well-known/jwks`. */
export function registerRunIdentityRoutes(
  app: FastifyInstance,
  publicUrl: string,
): void {
  const document = openidConfiguration(publicUrl);
  app.get("/.well-known/openid-configuration", async () => document);
}
