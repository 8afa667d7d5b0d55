import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { GraphQLError } from "graphql";
import mercurius, { type IResolvers } from "mercurius";
import { isAppError } from "../platform/errors.ts";
import { removeEmptyArgumentLists } from "./empty-arguments.ts";
import { unbuiltFieldsRule } from "./unbuilt-fields.ts";
import type { Logger } from "../platform/log/logger.ts";
import type { AuthService, Session } from "../modules/auth/index.ts";
import type { GraphQLContext } from "./graphql-context.ts";
import type { Resolvers } from "./generated/resolvers.ts";
import { checkQueryLimits, MAX_QUERY_TOKENS } from "./graphql-limits.ts";
import { withInputLimits } from "./input-limits.ts";

export type { Resolvers } from "./generated/resolvers.ts";
export {
  requireSession,
  schemaEnum,
  type GraphQLContext,
} from "./graphql-context.ts";

/**
 * The GraphQL edge at /graphql. The schema is the Spacelift-compatible SDL (the
 * operations spacectl and the Terraform provider send validate against it); each module
 * contributes a resolver map typed with `Resolvers`, generated from the SDL
 * (`npm run codegen`, see codegen.ts), so a field, argument or result that does not match
 * the schema fails type checking. Errors are mapped here only: an AppError becomes its
 * message plus `extensions.code`; a request GraphQL cannot read or refuses (syntax,
 * validation, variables) is the client's mistake and keeps graphql-js's message with
 * `GRAPHQL_PARSE_FAILED` or `GRAPHQL_VALIDATION_FAILED`; anything else is logged and
 * shown as "internal error".
 *
 * This file composes: roles/api.ts hands it the modules' resolver maps. Resolvers import
 * api/graphql-context.ts (context, `requireSession`, `schemaEnum`) and the generated
 * types, never this file, so no import runs back from the modules to the edge.
 */
export const SCHEMA_SDL = readFileSync(
  new URL("./schema.graphql", import.meta.url),
  "utf8",
);

const GRAPHQL_PATH = "/graphql";
export const GRAPHQL_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

declare module "mercurius" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface MercuriusContext extends GraphQLContext {}
}

export async function registerGraphQL(
  app: FastifyInstance,
  opts: {
    auth: Pick<AuthService, "authenticate">;
    resolvers: Resolvers[];
    log: Logger;
    /**
     * Browser sessions (SSO): the session of a request's cookie, checking its CSRF
     * header; null without a cookie. Used only when no bearer token is sent.
     */
    cookieAuth?: (req: FastifyRequest) => Promise<Session | null>;
  },
): Promise<void> {
  // The largest legitimate request carries a mounted file (at most 2 MB, base64 in the
  // variables); everything else is far smaller than the server's default limit.
  app.addHook("onRoute", (route) => {
    if (route.url === GRAPHQL_PATH)
      route.bodyLimit ??= GRAPHQL_BODY_LIMIT_BYTES;
  });
  // Spacelift accepts empty argument lists (`workerPools()`), graphql-js does not.
  app.addHook("preHandler", async (req) => {
    if (req.routeOptions.url !== "/graphql") return;
    for (const params of [req.body, req.query])
      if (isQueryParams(params))
        params.query = removeEmptyArgumentLists(params.query);
  });
  await app.register(mercurius, {
    schema: SCHEMA_SDL,
    resolvers: withInputLimits(mergeResolvers(opts.resolvers)),
    path: GRAPHQL_PATH,
    graphiql: false,
    graphql: { parseOptions: { maxTokens: MAX_QUERY_TOKENS } },
    validationRules: [unbuiltFieldsRule],
    context: async (req): Promise<GraphQLContext> => {
      const header = req.headers.authorization;
      let session: Session | null = null;
      if (header?.startsWith("Bearer ")) {
        try {
          session = await opts.auth.authenticate(
            header.slice("Bearer ".length).trim(),
          );
        } catch {
          // An invalid or expired token is an anonymous caller; fields that need a
          // session answer "unauthorized", which spacectl turns into "re-login".
          session = null;
        }
      } else if (opts.cookieAuth) {
        try {
          session = await opts.cookieAuth(req);
        } catch {
          // An ended session or a missing CSRF token: anonymous, like a bad token.
          session = null;
        }
      }
      return {
        session,
        log: req.log as unknown as Logger,
        headers: req.headers,
        remoteIp: req.ip,
      };
    },
    errorFormatter: (execution, ctx) => {
      // The request itself was refused (body too large, not JSON): its status and code.
      const http = (execution.errors ?? [])
        .map((e) => httpErrorOf(e.originalError))
        .find((e) => e !== null);
      if (http) return http;
      const errors = (execution.errors ?? []).flatMap((err) =>
        formatError(err, opts.log),
      );
      // GraphQL errors, a refused document's included, are answered with HTTP 200 and
      // their codes, as the Spacelift clients expect (they read `errors` only on a 200).
      const response = mercurius.defaultErrorFormatter(
        { ...execution, errors },
        ctx,
      );
      return { statusCode: 200, response: response.response };
    },
  });
  // Depth and field count, before graphql-js validates the document (graphql-limits.ts).
  app.graphql.addHook("preValidation", async (_schema, document) => {
    let errors: GraphQLError[];
    try {
      errors = checkQueryLimits(document);
    } catch {
      // mercurius also accepts a JSON AST as `query`; a malformed one lands here.
      errors = [
        new GraphQLError("the query is not a GraphQL document", {
          extensions: { code: "GRAPHQL_PARSE_FAILED" },
        }),
      ];
    }
    if (errors.length > 0) throw new QueryLimitsError(errors);
  });
}

/**
 * Refuses a document over the limits with 400 and one GraphQL error per limit (each with
 * `extensions.code`); mercurius expands `errors` as it does its own validation errors.
 */
class QueryLimitsError extends Error {
  readonly statusCode = 400;
  constructor(readonly errors: GraphQLError[]) {
    super(errors.map((e) => e.message).join("; "));
  }
}

/**
 * One resolver map from the modules' maps. A field resolved by two modules is a wiring
 * mistake (the later one would silently win), so it fails startup instead.
 */
export function mergeResolvers(maps: readonly Resolvers[]): IResolvers {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const map of maps) {
    for (const [type, fields] of Object.entries(map)) {
      const target = (merged[type] ??= {});
      for (const [field, resolver] of Object.entries(
        fields as Record<string, unknown>,
      )) {
        if (field in target)
          throw new Error(`GraphQL field ${type}.${field} is resolved twice`);
        target[field] = resolver;
      }
    }
  }
  // The boundary to mercurius, whose resolver type is untyped; each map was checked
  // against the generated `Resolvers` above.
  return merged as IResolvers;
}

/**
 * Fastify's own 4xx errors (body over the limit, malformed JSON, unsupported media type)
 * reach mercurius' error handler too; they are answered with their status and a code
 * rather than as an internal error.
 */
function httpErrorOf(err: unknown): {
  statusCode: number;
  response: {
    data: null;
    errors: Array<{ message: string; extensions: { code: string } }>;
  };
} | null {
  const e = err as
    | { code?: unknown; statusCode?: unknown; message?: unknown }
    | undefined;
  if (
    typeof e?.code !== "string" ||
    !e.code.startsWith("FST_") ||
    typeof e.statusCode !== "number" ||
    e.statusCode < 400 ||
    e.statusCode >= 500
  )
    return null;
  const tooLarge = e.code === "FST_ERR_CTP_BODY_TOO_LARGE";
  const message = tooLarge
    ? `the request body is larger than the ${GRAPHQL_BODY_LIMIT_BYTES / 1024 / 1024} MiB POST ${GRAPHQL_PATH} accepts`
    : String(e.message);
  return {
    statusCode: e.statusCode,
    response: {
      data: null,
      errors: [
        {
          message,
          extensions: { code: tooLarge ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST" },
        },
      ],
    },
  };
}

function isQueryParams(value: unknown): value is { query: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { query?: unknown }).query === "string"
  );
}

/**
 * mercurius wraps what graphql-js reports before execution (syntax, validation, variable
 * values) in one MER_ERR_GQL_VALIDATION error carrying graphql-js's errors; the limits
 * hook throws a QueryLimitsError shaped the same. They are read by shape: mercurius may
 * load graphql-js's CommonJS build while this module gets the ES build, so
 * `instanceof GraphQLError` cannot be trusted across the two.
 */
function requestErrors(original: Error): readonly GraphQLError[] | null {
  // MER_ERR_GQL_VALIDATION, a QueryLimitsError, or variables that do not match their
  // types: any refusal carrying a list of errors is a client's mistake.
  const { errors } = original as { errors?: unknown };
  if (!Array.isArray(errors)) return null;
  return errors.filter(
    (e): e is GraphQLError =>
      typeof (e as { message?: unknown }).message === "string",
  );
}

function formatError(err: GraphQLError, log: Logger): GraphQLError[] {
  const original = err.originalError;
  const refused = original ? requestErrors(original) : null;
  if (refused?.length) {
    // A field of a feature that is not built also fails graphql-js's own rules; the
    // feature is the reason worth telling.
    const unbuilt = refused.filter(
      (e) => e.extensions?.code === "NOT_IMPLEMENTED",
    );
    if (unbuilt.length) return unbuilt;
    return refused.map(
      (e) =>
        new GraphQLError(e.message, {
          nodes: e.nodes,
          source: e.source,
          positions: e.positions,
          extensions: { code: refusalCode(e) },
        }),
    );
  }
  return [formatExecutionError(err, log)];
}

/** A refused document's code: the limit's own, else parse or validation. */
function refusalCode(e: GraphQLError): string {
  const own = e.extensions?.code;
  if (typeof own === "string") return own;
  if (e.message.includes("tokens. Parsing aborted")) return "QUERY_TOO_LARGE";
  return e.message.startsWith("Syntax Error")
    ? "GRAPHQL_PARSE_FAILED"
    : "GRAPHQL_VALIDATION_FAILED";
}

function formatExecutionError(err: GraphQLError, log: Logger): GraphQLError {
  const original = err.originalError;
  // graphql's errors may come from its CommonJS build (mercurius's), so not only instanceof.
  if (
    !original ||
    original instanceof GraphQLError ||
    original.name === "GraphQLError"
  )
    return err;
  if (isAppError(original)) {
    return new GraphQLError(original.message, {
      nodes: err.nodes,
      positions: err.positions,
      path: err.path,
      extensions: { code: original.code },
    });
  }
  log.error({ err: original, path: err.path }, "graphql resolver failed");
  return new GraphQLError("internal error", {
    path: err.path,
    extensions: { code: "INTERNAL" },
  });
}
