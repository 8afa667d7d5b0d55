import { requireSession } from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import {
  createFailureLimiter,
  type FailureLimiter,
} from "../../platform/http/failure-limiter.ts";
import { ACCOUNT } from "./account.ts";
import type { AuthService } from "./auth-service.ts";

/** Failed apiKeyUser exchanges per client address per minute before RATE_LIMITED. */
export const API_KEY_LOGIN_FAILURES_PER_MINUTE = 10;

export function authResolvers(
  auth: Pick<AuthService, "exchangeApiKey">,
  failures: FailureLimiter = createFailureLimiter({
    what: "API key logins",
    maxFailures: API_KEY_LOGIN_FAILURES_PER_MINUTE,
    windowMs: 60_000,
  }),
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
        ctx.session
          ? {
              id: ctx.session.id,
              name: ctx.session.name,
              teams: [...(ctx.session.teams ?? [])],
            }
          : null,
    },
    Mutation: {
      apiKeyUser: async (_root, args, ctx) => {
        failures.check(ctx.remoteIp);
        try {
          const { token, expiresAt } = await auth.exchangeApiKey(
            args.id,
            args.secret,
            { remoteIp: ctx.remoteIp },
          );
          return {
            id: args.id,
            name: args.id,
            jwt: token,
            validUntil: expiresAt,
          };
        } catch (err) {
          if (err instanceof UnauthorizedError) {
            failures.fail(ctx.remoteIp);
            return null;
          }
          throw err;
        }
      },
    },
  };
}
