import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { registerGraphQL } from "../../api/graphql.ts";
import { UnauthorizedError } from "../../platform/errors.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../../platform/http/http-server.ts";
import { createLogger } from "../../platform/log/logger.ts";
import {
  API_KEY_LOGIN_FAILURES_PER_MINUTE,
  authResolvers,
} from "./auth-resolvers.ts";
import {
  ADMIN_LOGIN_ATTEMPTS_PER_MINUTE,
  registerAuthRoutes,
} from "./auth-routes.ts";

const log = createLogger({ level: "silent", format: "json" });

// Login endpoints with the auth service faked: only "right"/"right-secret" logs in.
async function server(): Promise<FastifyInstance> {
  const http = createHttpServer({
    log,
    readiness: [],
    metrics: createMetricsRegistry({ service: "test" }),
  });
  const fake = {
    async adminLogin(_u: string, password: string) {
      if (password !== "right")
        throw new UnauthorizedError("wrong username or password");
      return { token: "t", expiresAt: 1 };
    },
    async exchangeApiKey(_id: string, secret: string) {
      if (secret !== "right-secret")
        throw new UnauthorizedError("unknown API key id or wrong secret");
      return { token: "jwt", expiresAt: 1 };
    },
  };
  await registerAuthRoutes(http, fake, { jwks: async () => ({ keys: [] }) });
  await registerGraphQL(http, {
    auth: { authenticate: async () => Promise.reject(new Error("no")) },
    log,
    resolvers: [authResolvers(fake)],
  });
  await http.ready();
  return http;
}

describe("login rate limits", () => {
  let http: FastifyInstance | undefined;
  afterEach(async () => {
    await http?.close();
  });

  const adminLogin = (password: string, remoteAddress = "192.0.2.10") =>
    http!.inject({
      method: "POST",
      url: "/admin-login",
      remoteAddress,
      payload: { username: "admin", password },
    });

  it("answers 429 RATE_LIMITED to /admin-login after 10 attempts a minute from one address", async () => {
    http = await server();
    for (let i = 0; i < ADMIN_LOGIN_ATTEMPTS_PER_MINUTE; i++)
      expect((await adminLogin("guess")).statusCode).toBe(401);
    const limited = await adminLogin("right");
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({
      error: "RATE_LIMITED",
      message: expect.stringMatching(
        /^too many login attempts from this address; try again in \d+ s$/,
      ) as string,
    });
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await adminLogin("right", "192.0.2.11")).statusCode).toBe(200);
  });

  it("refuses apiKeyUser with RATE_LIMITED after 10 failures a minute from one address", async () => {
    http = await server();
    const exchange = async (secret: string, remoteAddress = "192.0.2.20") => {
      const res = await http!.inject({
        method: "POST",
        url: "/graphql",
        remoteAddress,
        payload: {
          query:
            "mutation($id: ID!, $s: String!) { apiKeyUser(id: $id, secret: $s) { jwt } }",
          variables: { id: "01key", s: secret },
        },
      });
      return res.json<{
        data: { apiKeyUser: { jwt: string } | null } | null;
        errors?: Array<{ message: string; extensions?: { code?: string } }>;
      }>();
    };
    // Successes never count.
    for (let i = 0; i < 3; i++)
      expect((await exchange("right-secret")).data?.apiKeyUser?.jwt).toBe(
        "jwt",
      );
    for (let i = 0; i < API_KEY_LOGIN_FAILURES_PER_MINUTE; i++)
      expect((await exchange("guess")).data?.apiKeyUser).toBeNull();
    const limited = await exchange("right-secret");
    expect(limited.errors?.[0]).toMatchObject({
      message: expect.stringContaining(
        "too many failed API key logins",
      ) as string,
      extensions: { code: "RATE_LIMITED" },
    });
    expect(
      (await exchange("right-secret", "192.0.2.21")).data?.apiKeyUser?.jwt,
    ).toBe("jwt");
  });
});
