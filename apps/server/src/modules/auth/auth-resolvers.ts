import { requireSession, type Resolvers } from "../../api/graphql.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import { ACCOUNT } from "./account.ts";
import type { AuthService } from "./auth-service.ts";

export function authResolvers(
  auth: Pick<AuthService, "exchangeApiKey">,
): Resolvers {
  return {
    Query: {
      debugInfo: () => ({ selfHostedVersion: "" }),
      name: (_root, _args, ctx) => {
        requireSession(ctx);
        return ACCOUNT.name;
      },
      tier: (_root, _args, ctx) => {
        requireSession(ctx);
        return ACCOUNT.tier;
      },
      spaceliftAwsAccountId: (_root, _args, ctx) => {
        requireSession(ctx);
        return ACCOUNT.spaceliftAwsAccountId;
      },
      viewer: (_root, _args, ctx) =>
        ctx.session ? { id: ctx.session.id, name: ctx.session.name } : null,
    },
    Mutation: {
      apiKeyUser: async (_root, args, ctx) => {
        try {
          const { token, expiresAt } = await auth.exchangeApiKey(
            args.id,
            args.secret,
            { remoteIp: remoteIpOf(ctx.headers) },
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

/** The caller's address for login policies: the first X-Forwarded-For hop, else "". */
function remoteIpOf(headers: Record<string, string | string[] | undefined>) {
  const fwd = headers["x-forwarded-for"];
  const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(",")[0]?.trim();
  return first ?? "";
}
