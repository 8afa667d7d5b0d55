/** Typed access to Stackyard's GraphQL API for the CLI and the web UI; no server code. */
export {
  ApiError,
  adminLogin,
  createClient,
  createSessionClient,
  exchangeApiKey,
  type ApiClient,
  type ClientOptions,
  type IssuedToken,
  type SessionClientOptions,
} from "./client.ts";
export * from "./operations.ts";
export { restRequest } from "./rest.ts";
export { followRun, type FollowEvents } from "./follow-run.ts";
