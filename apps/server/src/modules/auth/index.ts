/**
 * Auth: who is calling, and what identities hold. Owns tables `users`, `api_keys`,
 * `roles` and `role_bindings`: the break-glass admin login (`POST /admin-login`), API
 * keys (created, updated and deleted by root admins; API-key exchange), session JWTs,
 * roles with their Action catalogue and role bindings of API keys and stacks. It does
 * not decide what a session may do on a given resource: the stacks module's space
 * access turns the rules of `identitySpaceRules` into levels per space.
 * It also owns OIDC single sign-on with browser sessions (`user_sessions`,
 * `sso_login_attempts`, routes `/oidc/*` and `/auth/*`), and run identity tokens with
 * `/.well-known/openid-configuration`.
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
  actorOf,
  formatActor,
  parseActor,
  isMachineActor,
  formatSubject,
  parseSubject,
  type Actor,
  type TokenSubject,
} from "./actor.ts";
export { ACTIONS, levelOfActions, type SpaceLevel } from "./role.ts";
export {
  createIdentityService,
  type IdentityService,
  type CreatedApiKey,
} from "./identity-service.ts";
export { identityResolvers, type ApiKeyNode } from "./identity-resolvers.ts";
export { identitySpaceRules } from "./identity-grants.ts";
export type {
  ApiKeyRecord,
  RoleRecord,
  BindingRecord,
} from "./identity-repo.ts";
export { bootstrapAdminKey, type BootstrapOutcome } from "./admin-bootstrap.ts";
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
