/** Typed access to Stackyard's GraphQL API for the CLI and the web UI; no server code. */
export {
  ApiError,
  createClient,
  type ApiClient,
  type ClientOptions,
} from "./client.ts";
export * from "./operations.ts";
export { followRun, type FollowEvents } from "./follow-run.ts";
