import type { FastifyRequest } from "fastify";
import { UnauthorizedError } from "../platform/errors.ts";
import type { Logger } from "../platform/log/logger.ts";
import type { Session } from "../modules/auth/session.ts";

/**
 * What the modules' resolvers need from the GraphQL edge: the request context and two
 * helpers. Resolvers import this file and `generated/resolvers.ts`, never graphql.ts,
 * which registers the endpoint and is composed from the resolver maps by roles/api.ts;
 * so imports point one way (modules → api/graphql-context.ts → auth/session.ts).
 */
export interface GraphQLContext {
  session: Session | null;
  log: Logger;
  /** Raw request headers, e.g. Spacelift-User-Provided-Run-Metadata. */
  headers: FastifyRequest["headers"];
  /**
   * The client's address as login policies see it: the socket's peer, or what a trusted
   * proxy (STACKYARD_TRUSTED_PROXIES) forwarded; never a header the client set itself.
   */
  remoteIp: string;
}

/**
 * `value` as a member of a schema enum whose generated const object is `values`, for
 * domain fields kept as plain strings. A value outside the enum is a server bug (graphql-js
 * could not serialize it either) and fails with the enum named.
 */
export function schemaEnum<E extends string>(
  values: Readonly<Record<string, E>>,
  value: string,
  enumName: string,
): E {
  const found = Object.values(values).find((v) => v === value);
  if (found === undefined)
    throw new Error(`${value} is not a value of the GraphQL enum ${enumName}`);
  return found;
}

/** Throws the "unauthorized" error spacectl recognises when there is no session. */
export function requireSession(ctx: GraphQLContext): Session {
  if (!ctx.session) throw new UnauthorizedError("unauthorized");
  return ctx.session;
}
