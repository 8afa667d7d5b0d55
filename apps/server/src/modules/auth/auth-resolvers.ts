import type { IResolvers } from "mercurius";
import type { GraphQLContext } from "../../api/graphql.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import type { AuthService } from "./auth-service.ts";

export function authResolvers(
  auth: Pick<AuthService, "exchangeApiKey">,
): IResolvers {
  return {
    Query: {
      debugInfo: () => ({ selfHostedVersion: "" }),
      viewer: (_root: unknown, _args: unknown, ctx: GraphQLContext) =>
        ctx.session ? { id: ctx.session.id, name: ctx.session.name } : null,
    },
    Mutation: {
      apiKeyUser: async (
        _root: unknown,
        args: { id: string; secret: string },
      ) => {
        try {
          const { token, expiresAt } = await auth.exchangeApiKey(
            args.id,
            args.secret,
          );
          return {
            id: args.id,
            name: args.id,
            jwt: token,
            validUntil: expiresAt,
          };
        } catch (err) {
          if (err instanceof UnauthorizedError) return null;
          throw err;
        }
      },
    },
  };
}
