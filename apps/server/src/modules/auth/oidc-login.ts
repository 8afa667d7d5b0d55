import { randomBytes } from "node:crypto";
import * as oidc from "openid-client";
import type { Database } from "../../platform/db/index.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import type { SsoIdentity } from "./user-sessions.ts";

/** How long a person has at the IdP between the redirect and its answer. */
export const SSO_ATTEMPT_TTL_SECONDS = 10 * 60;
/** The redirect URI registered at the IdP: `<public URL>/oidc/exchange` (spacelift-reference §7.9). */
export const OIDC_EXCHANGE_PATH = "/oidc/exchange";
/** Seconds to wait for the IdP (discovery, token, userinfo). */
const IDP_TIMEOUT_SECONDS = 10;

/** A sign-in the IdP's answer cannot complete; its message is shown to the person. */
export class SsoLoginError extends UnauthorizedError {}

export interface OidcSettings {
  clientId: string;
  clientSecret: string;
  /** `identity_provider_host`: the issuer URL whose discovery document is read. */
  issuerUrl: string;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** A safe same-origin path to return to after sign-in; anything else becomes `/`. */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== "string" || !value.startsWith("/")) return "/";
  if (value.startsWith("//") || value.includes("\\") || /[\r\n]/.test(value))
    return "/";
  return value.slice(0, 2000);
}

/**
 * The relying party of OIDC single sign-on (openid-client): the authorization code flow
 * with PKCE (S256), `state` and `nonce`, scopes `openid email` plus `profile` and
 * `groups` when the IdP offers them. The IdP's metadata comes from its discovery
 * document, read on first use and again after a failure. The PKCE verifier, state and
 * nonce stay server-side in `sso_login_attempts`; the browser holds only the attempt's
 * id (a cookie), and each attempt is consumed by the first answer that names it.
 * Plain-HTTP IdPs are accepted only on loopback addresses (local trials and tests).
 */
export function createOidcLogin(deps: {
  db: Database;
  clock: () => Date;
  settings: OidcSettings;
  publicUrl: string;
}) {
  const { db, clock, settings } = deps;
  const redirectUri = `${deps.publicUrl}${OIDC_EXCHANGE_PATH}`;
  let discovered: Promise<oidc.Configuration> | null = null;

  function configuration(): Promise<oidc.Configuration> {
    discovered ??= (async () => {
      const server = new URL(settings.issuerUrl);
      const insecure =
        server.protocol === "http:" && LOOPBACK.has(server.hostname);
      try {
        const config = await oidc.discovery(
          server,
          settings.clientId,
          { client_secret: settings.clientSecret },
          oidc.ClientSecretBasic(settings.clientSecret),
          insecure ? { execute: [oidc.allowInsecureRequests] } : {},
        );
        config.timeout = IDP_TIMEOUT_SECONDS;
        return config;
      } catch (err) {
        throw new SsoLoginError(
          `the identity provider ${settings.issuerUrl} could not be used: ${describe(err)}`,
          { cause: err },
        );
      }
    })();
    discovered.catch(() => {
      discovered = null;
    });
    return discovered;
  }

  return {
    redirectUri,

    /** Starts a sign-in: the attempt id (for the browser's cookie) and the IdP URL to go to. */
    async begin(returnTo: string): Promise<{ attemptId: string; url: URL }> {
      const config = await configuration();
      const offered = config.serverMetadata().scopes_supported ?? [];
      const scope = [
        "openid",
        "email",
        ...["profile", "groups"].filter((s) => offered.includes(s)),
      ].join(" ");
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const attemptId = randomBytes(32).toString("base64url");
      const now = clock();
      await db
        .deleteFrom("sso_login_attempts")
        .where("expires_at", "<", now)
        .execute();
      await db
        .insertInto("sso_login_attempts")
        .values({
          id: attemptId,
          state,
          nonce,
          code_verifier: codeVerifier,
          return_to: safeReturnPath(returnTo),
          expires_at: new Date(now.getTime() + SSO_ATTEMPT_TTL_SECONDS * 1000),
        })
        .execute();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope,
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: "S256",
      });
      return { attemptId, url };
    },

    /**
     * Completes a sign-in from the IdP's answer (the full /oidc/exchange URL): checks the
     * attempt, the state, the code exchange (PKCE), the ID token (issuer, audience,
     * nonce, signature, expiry), then reads the userinfo for email, name and groups.
     */
    async complete(
      attemptId: string | undefined,
      currentUrl: URL,
    ): Promise<{ identity: SsoIdentity; returnTo: string }> {
      const attempt = attemptId
        ? await db
            .deleteFrom("sso_login_attempts")
            .where("id", "=", attemptId)
            .returningAll()
            .executeTakeFirst()
        : undefined;
      if (!attempt || attempt.expires_at <= clock())
        throw new SsoLoginError(
          "this sign-in was not started from this browser, or took longer than 10 minutes; start again",
        );
      const idpError = currentUrl.searchParams.get("error");
      if (idpError)
        throw new SsoLoginError(
          `the identity provider refused the sign-in: ${idpError}${
            currentUrl.searchParams.get("error_description")
              ? ` (${currentUrl.searchParams.get("error_description")})`
              : ""
          }`,
        );
      if (currentUrl.searchParams.get("state") !== attempt.state)
        throw new SsoLoginError(
          "the identity provider's answer does not belong to this sign-in (state mismatch); start again",
        );
      const config = await configuration();
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: attempt.code_verifier,
          expectedState: attempt.state,
          expectedNonce: attempt.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw new SsoLoginError(
          `the identity provider's answer was refused: ${describe(err)}`,
          { cause: err },
        );
      }
      const claims = tokens.claims();
      if (!claims)
        throw new SsoLoginError("the identity provider sent no ID token");
      let info: Record<string, unknown> = {};
      if (config.serverMetadata().userinfo_endpoint)
        try {
          info = await oidc.fetchUserInfo(
            config,
            tokens.access_token,
            claims.sub,
          );
        } catch (err) {
          throw new SsoLoginError(
            `reading the user's profile from the identity provider failed: ${describe(err)}`,
            { cause: err },
          );
        }
      const merged: Record<string, unknown> = { ...claims, ...info };
      const email = typeof merged.email === "string" ? merged.email : "";
      if (!email)
        throw new SsoLoginError(
          "the identity provider sent no email address; it must support the email scope",
        );
      const name =
        typeof merged.name === "string" && merged.name.trim()
          ? merged.name
          : email;
      const groups = Array.isArray(merged.groups)
        ? merged.groups.filter((g): g is string => typeof g === "string")
        : [];
      return {
        identity: {
          issuer: claims.iss,
          subject: claims.sub,
          email,
          name,
          teams: groups,
        },
        returnTo: attempt.return_to,
      };
    },
  };
}

export type OidcLogin = ReturnType<typeof createOidcLogin>;

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
