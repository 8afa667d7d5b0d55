/**
 * Auth: who is calling. Owns tables `users` and `api_keys`, the break-glass admin login
 * (`POST /admin-login`), API-key exchange, and session JWTs; OIDC single sign-on with
 * browser sessions (`user_sessions`, `sso_login_attempts`, routes `/oidc/*` and
 * `/auth/*`); run identity tokens and `/.well-known/openid-configuration`. It does not decide what a
 * session may do on a given resource; modules check `session.admin` / space access.
 */
export {
  createAuthService,
  hashSecret,
  SESSION_TTL_SECONDS,
  type AuthService,
  type IssuedApiKey,
} from "./auth-service.ts";
export type { Session } from "./session.ts";
export { createTokenSigner, type TokenSigner } from "./token-signer.ts";
export { registerAuthRoutes } from "./auth-routes.ts";
export { authResolvers } from "./auth-resolvers.ts";
export { ACCOUNT } from "./account.ts";
export {
  createRunIdentityIssuer,
  registerRunIdentityRoutes,
  RUN_IDENTITY_TTL_SECONDS,
  type RunIdentityIssuer,
} from "./run-identity.ts";
export {
  createUserSessions,
  SESSION_ABSOLUTE_SECONDS,
  SESSION_IDLE_SECONDS,
  type UserSessions,
} from "./user-sessions.ts";
export { createOidcLogin, type OidcLogin } from "./oidc-login.ts";
export {
  cookieAuthenticator,
  registerSsoRoutes,
  CSRF_HEADER,
  SESSION_COOKIE,
} from "./sso-routes.ts";
