import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ValidationError } from "../../platform/errors.ts";
import type { AuthService } from "./auth-service.ts";

const loginBody = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
});

export function registerAuthRoutes(
  app: FastifyInstance,
  auth: Pick<AuthService, "adminLogin">,
): void {
  app.post("/admin-login", async (req) => {
    const parsed = loginBody.safeParse(req.body);
    if (!parsed.success)
      throw new ValidationError(
        'send JSON {"username": "...", "password": "..."}',
      );
    const { token, expiresAt } = await auth.adminLogin(
      parsed.data.username,
      parsed.data.password,
    );
    return { token, expiresAt };
  });
}
