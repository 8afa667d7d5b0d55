import { readFileSync } from "node:fs";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { GraphQLError } from "graphql";
import mercurius, { type IResolvers } from "mercurius";
import { isAppError, UnauthorizedError } from "../platform/errors.ts";
import type { Logger } from "../platform/log/logger.ts";
import type { AuthService, Session } from "../modules/auth/index.ts";
import type { Resolvers } from "./generated/resolvers.ts";
import { withInputLimits } from "./input-limits.ts";

export type { Resolvers } from "./generated/resolvers.ts";

/**
 * The GraphQL edge at /graphql. The schema is the Spacelift-compatible SDL (the
 * operations spacectl and the Terraform provider send validate against it); each module
 * contributes a resolver map typed with `Resolvers`, generated from the SDL
 * (`npm run codegen`, see codegen.ts), so a field, argument or result that does not match
 * the schema fails type checking. Errors are mapped here only: an AppError becomes its
 * message plus `extensions.code`; anything else is logged and shown as "internal error".
 */
export const SCHEMA_SDL = readFileSync(
  new URL("./schema.graphql", import.meta.url),
  "utf8",
);

export interface GraphQLContext {
  session: Session | null;
  log: Logger;
  /** Raw request headers, e.g. Spacelift-User-Provided-Run-Metadata. */
  headers: FastifyRequest["headers"];
}

declare module "mercurius" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface MercuriusContext extends GraphQLContext {}
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

export async function registerGraphQL(
  app: FastifyInstance,
  opts: {
    auth: Pick<AuthService, "authenticate">;
    resolvers: Resolvers[];
    log: Logger;
  },
): Promise<void> {
  await app.register(mercurius, {
    schema: SCHEMA_SDL,
    resolvers: withInputLimits(mergeResolvers(opts.resolvers)),
    path: "/graphql",
    graphiql: false,
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
      }
      return {
        session,
        log: req.log as unknown as Logger,
        headers: req.headers,
      };
    },
    errorFormatter: (execution, ctx) => {
      const errors = (execution.errors ?? []).flatMap((err) =>
        formatError(err, opts.log),
      );
      // Execution errors are answered with HTTP 200, as the Spacelift clients expect.
      const response = mercurius.defaultErrorFormatter(
        { ...execution, errors },
        ctx,
      );
      return {
        statusCode: response.statusCode === 500 ? 200 : response.statusCode,
        response: response.response,
      };
    },
  });
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

function formatError(err: GraphQLError, log: Logger): GraphQLError[] {
  const original = err.originalError as
    | (Error & { errors?: unknown })
    | undefined;
  // A request mercurius refused before execution (variables that do not match their
  // types, a document that does not validate): a client error, one per problem.
  if (original && Array.isArray(original.errors))
    return original.errors.map(
      (e: unknown) =>
        new GraphQLError(e instanceof Error ? e.message : String(e), {
          extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
        }),
    );
  // graphql's errors may come from its CommonJS build (mercurius's), so not instanceof.
  if (!original || original.name === "GraphQLError") return [err];
  if (isAppError(original)) {
    return [
      new GraphQLError(original.message, {
        nodes: err.nodes,
        positions: err.positions,
        path: err.path,
        extensions: { code: original.code },
      }),
    ];
  }
  log.error({ err: original, path: err.path }, "graphql resolver failed");
  return [
    new GraphQLError("internal error", {
      path: err.path,
      extensions: { code: "INTERNAL" },
    }),
  ];
}
