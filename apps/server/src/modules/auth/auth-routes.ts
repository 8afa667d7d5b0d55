import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { RateLimitedError, ValidationError } from "../../platform/errors.ts";
import type { AuthService } from "./auth-service.ts";
import type { TokenSigner } from "./token-signer.ts";

const loginBody = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
});

/** Break-glass login attempts per client address per minute, right or wrong. */
export const ADMIN_LOGIN_ATTEMPTS_PER_MINUTE = 10;

export async function registerAuthRoutes(
  app: FastifyInstance,
  auth: Pick<AuthService, "adminLogin">,
  signer: Pick<TokenSigner, "jwks">,
): Promise<void> {
  // Lets anyone verify Stackyard's session tokens (RS256) without a shared secret.
  app.get("/.well-known/jwks", async () => signer.jwks());

  // The break-glass password is the one secret a human may choose: every attempt counts
  // against the client address (req.ip: the socket, or a trusted proxy's forwarded one).
  await app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_req, ctx) =>
        new RateLimitedError(
          `too many login attempts from this address; try again in ${Math.ceil(ctx.ttl / 1000)} s`,
          Math.ceil(ctx.ttl / 1000),
        ),
    });
    scope.post(
      "/admin-login",
      {
        config: {
          rateLimit: {
            max: ADMIN_LOGIN_ATTEMPTS_PER_MINUTE,
            timeWindow: 60_000,
          },
        },
      },
      async (req) => {
        const parsed = loginBody.safeParse(req.body);
        if (!parsed.success)
          throw new ValidationError(
            'send JSON {"username": "...", "password": "..."}',
          );
        const { token, expiresAt } = await auth.adminLogin(
          parsed.data.username,
          parsed.data.password,
          { remoteIp: req.ip },
        );
        return { token, expiresAt };
      },
    );
  });
}
