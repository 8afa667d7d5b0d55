import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { UnauthorizedError } from "../../platform/errors.ts";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../../platform/http/http-server.ts";
import { createLogger } from "../../platform/log/logger.ts";
import {
  cookieAuthenticator,
  registerSsoRoutes,
  SSO_LOGINS_PER_MINUTE,
} from "./sso-routes.ts";
import { csrfTokenOf, type UserSession } from "./user-sessions.ts";

const log = createLogger({ level: "silent", format: "json" });

// The SSO routes' edges with the session store faked (one live secret, "live"); the
// real store is user-sessions.db.test.ts and the real flow e2e/sso-oidc.test.ts.
const LIVE: UserSession = {
  kind: "user",
  id: "u1",
  name: "Alice",
  email: "alice@example.com",
  admin: false,
  teams: ["platform"],
  csrfToken: csrfTokenOf("live"),
  expiresAt: new Date("2030-01-01T00:00:00Z"),
};
const sessions = {
  signOuts: [] as string[],
  async authenticate(secret: string) {
    if (secret !== "live")
      throw new UnauthorizedError("signed out; sign in again");
    return LIVE;
  },
  async signIn(): Promise<never> {
    throw new Error("not used");
  },
  async signOut(secret: string) {
    this.signOuts.push(secret);
  },
};

let http: FastifyInstance | undefined;
async function server(): Promise<FastifyInstance> {
  http = createHttpServer({
    log,
    readiness: [],
    metrics: createMetricsRegistry({ service: "test" }),
  });
  await registerSsoRoutes(http, {
    oidc: null,
    sessions,
    publicUrl: "https://stackyard.example.com",
  });
  await http.ready();
  return http;
}
afterEach(async () => {
  await http?.close();
  http = undefined;
});

describe("SSO routes", () => {
  it("say SSO is off and refuse to start a sign-in when it is not configured", async () => {
    const app = await server();
    expect((await app.inject({ url: "/auth/sso" })).json()).toEqual({
      enabled: false,
    });
    const login = await app.inject({ url: "/oidc/login" });
    expect(login.statusCode).toBe(404);
    expect(login.body).toContain("single sign-on is not configured");
  });

  it("limit sign-ins started per address", async () => {
    const app = await server();
    for (let i = 0; i < SSO_LOGINS_PER_MINUTE; i++)
      expect((await app.inject({ url: "/oidc/login" })).statusCode).toBe(404);
    const limited = await app.inject({ url: "/oidc/login" });
    expect(limited.statusCode).toBe(429);
  });

  it("tell the UI who is signed in, with the CSRF token, from the cookie only", async () => {
    const app = await server();
    expect((await app.inject({ url: "/auth/session" })).statusCode).toBe(401);
    const res = await app.inject({
      url: "/auth/session",
      headers: { cookie: "other=1; stackyard_session=live" },
    });
    expect(res.json()).toMatchObject({
      user: { id: "u1", email: "alice@example.com", teams: ["platform"] },
      csrfToken: LIVE.csrfToken,
    });
    expect(
      (
        await app.inject({
          url: "/auth/session",
          headers: { cookie: "stackyard_session=ended" },
        })
      ).statusCode,
    ).toBe(401);
  });

  it("sign out only with the CSRF token, and clear a Secure cookie", async () => {
    const app = await server();
    const forged = await app.inject({
      method: "POST",
      url: "/auth/logout",
      headers: { cookie: "stackyard_session=live" },
    });
    expect(forged.statusCode).toBe(401);
    expect(sessions.signOuts).toEqual([]);
    const res = await app.inject({
      method: "POST",
      url: "/auth/logout",
      headers: {
        cookie: "stackyard_session=live",
        "x-csrf-token": LIVE.csrfToken,
      },
    });
    expect(res.statusCode).toBe(204);
    expect(sessions.signOuts).toEqual(["live"]);
    expect(res.headers["set-cookie"]).toMatch(
      /^stackyard_session=; Path=\/; Max-Age=0; HttpOnly; Secure; SameSite=Lax$/,
    );
  });

  it("authenticate cookie calls only with the session's CSRF token", async () => {
    const auth = cookieAuthenticator(sessions);
    await expect(auth({ headers: {} })).resolves.toBeNull();
    await expect(
      auth({ headers: { cookie: "stackyard_session=live" } }),
    ).rejects.toThrow(/CSRF token/);
    await expect(
      auth({
        headers: {
          cookie: "stackyard_session=live",
          "x-csrf-token": "nope",
        },
      }),
    ).rejects.toThrow(/CSRF token/);
    await expect(
      auth({
        headers: {
          cookie: "stackyard_session=live",
          "x-csrf-token": LIVE.csrfToken,
        },
      }),
    ).resolves.toMatchObject({ id: "u1" });
  });
});
