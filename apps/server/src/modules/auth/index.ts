/**
 * Auth: who is calling. Owns tables `users` and `api_keys`, the break-glass admin login
 * (`POST /admin-login`), API-key exchange, and session JWTs. It does not decide what a
 * session may do on a given resource; modules check `session.admin` / space access.
 */
export {
  createAuthService,
  hashSecret,
  SESSION_TTL_SECONDS,
  type AuthService,
  type Session,
  type IssuedApiKey,
} from "./auth-service.ts";
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
