import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ValidationError } from "../../platform/errors.ts";
import type { AuthService } from "./auth-service.ts";
import type { TokenSigner } from "./token-signer.ts";

const loginBody = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
});

export function registerAuthRoutes(
  app: FastifyInstance,
  auth: Pick<AuthService, "adminLogin">,
  signer: Pick<TokenSigner, "jwks">,
): void {
  // Lets anyone verify Stackyard's session tokens (RS256) without a shared secret.
  app.get("/.well-known/jwks", async () => signer.jwks());

  app.post("/admin-login", async (req) => {
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
  });
}
