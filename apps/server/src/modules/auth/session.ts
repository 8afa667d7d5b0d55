/**
 * Who is calling, as every module sees it once auth has authenticated the request. A
 * dependency-free leaf: the GraphQL edge's context (api/graphql-context.ts) and the
 * modules import it without importing the auth service.
 */
export interface Session {
  /**
   * `policy`: a trigger policy starting runs with its space's rights (`policyGrants`
   * only); built by the composition root, never issued as a token.
   */
  kind: "user" | "api_key" | "policy";
  id: string;
  name: string;
  admin: boolean;
  /**
   * Space access a login policy granted at login (`roles[space]`), space id → level; it
   * adds to the key's own access in those spaces and the spaces below them.
   */
  policyGrants?: Readonly<Record<string, "READ" | "WRITE" | "ADMIN">>;
  /** The session's teams, after login policies' `team` rule (absent: none). */
  teams?: readonly string[];
}
