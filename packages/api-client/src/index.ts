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
  type OperationText,
  type SessionClientOptions,
  type VariablesArgs,
} from "./client.ts";
export * from "./operations.ts";
/** Generated from the SDL: each operation's result and variables, and the input types. */
export type * from "./generated/operations.ts";
export type { ResultOf, VariablesOf } from "@graphql-typed-document-node/core";
export { restRequest } from "./rest.ts";
export { followRun, type FollowEvents } from "./follow-run.ts";
