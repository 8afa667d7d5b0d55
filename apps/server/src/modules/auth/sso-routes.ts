import { timingSafeEqual } from "node:crypto";
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { RateLimitedError, UnauthorizedError } from "../../platform/errors.ts";
import { readCookie, serializeCookie } from "../../platform/http/cookies.ts";
import type { Session } from "./session.ts";
import {
  OIDC_EXCHANGE_PATH,
  safeReturnPath,
  SsoLoginError,
  SSO_ATTEMPT_TTL_SECONDS,
  type OidcLogin,
} from "./oidc-login.ts";
import {
  SESSION_ABSOLUTE_SECONDS,
  type UserSessions,
} from "./user-sessions.ts";

/** The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS; names a user_sessions row. */
export const SESSION_COOKIE = "stackyard_session";
/** Ties the IdP's answer to the browser that started the sign-in (Path=/oidc). */
const ATTEMPT_COOKIE = "stackyard_sso_attempt";
/** Cookie-authenticated calls carry the session's CSRF token in this header. */
export const CSRF_HEADER = "x-csrf-token";
export const OIDC_LOGIN_PATH = "/oidc/login";
/** Sign-ins started per client address per minute: each stores an attempt row. */
export const SSO_LOGINS_PER_MINUTE = 30;

function sameToken(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * The session of a cookie-authenticated request (the web UI after SSO), or null when it
 * has no session cookie. A cookie without the matching X-CSRF-Token header is refused:
 * a cross-site page can make the browser send the cookie, never read the token.
 */
export function cookieAuthenticator(
  sessions: Pick<UserSessions, "authenticate">,
) {
  return async (req: {
    headers: FastifyRequest["headers"];
  }): Promise<Session | null> => {
    const secret = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (!secret) return null;
    const session = await sessions.authenticate(secret);
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== "string" || !sameToken(sent, session.csrfToken))
      throw new UnauthorizedError(
        `a signed-in browser call needs the session's CSRF token in ${CSRF_HEADER}`,
      );
    return session;
  };
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ] ?? c,
  );
}

/**
 * OIDC single sign-on and browser sessions over HTTP:
 * - `GET /auth/sso`: whether SSO is configured (the sign-in page offers it);
 * - `GET /oidc/login?next=/path`: starts a sign-in, redirects to the IdP;
 * - `GET /oidc/exchange`: the IdP's answer; sets the session cookie, redirects to `next`;
 *   a refused sign-in is a page with the reason and no session;
 * - `GET /auth/session`: the signed-in user and the CSRF token (cookie only);
 * - `POST /auth/logout`: ends the session (needs the CSRF token) and clears the cookie.
 */
export async function registerSsoRoutes(
  root: FastifyInstance,
  deps: {
    oidc: OidcLogin | null;
    sessions: Pick<UserSessions, "signIn" | "authenticate" | "signOut">;
    publicUrl: string;
  },
): Promise<void> {
  await root.register(async (app) => {
    await app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_req, ctx) =>
        new RateLimitedError(
          `too many sign-ins from this address; try again in ${Math.ceil(ctx.ttl / 1000)} s`,
          Math.ceil(ctx.ttl / 1000),
        ),
    });
    registerRoutes(app, deps);
  });
}

function registerRoutes(
  app: FastifyInstance,
  deps: {
    oidc: OidcLogin | null;
    sessions: Pick<UserSessions, "signIn" | "authenticate" | "signOut">;
    publicUrl: string;
  },
): void {
  const secure = deps.publicUrl.startsWith("https:");
  const sessionCookie = (value: string, maxAgeSeconds: number) =>
    serializeCookie(SESSION_COOKIE, value, {
      path: "/",
      httpOnly: true,
      secure,
      sameSite: "Lax",
      maxAgeSeconds,
    });
  const attemptCookie = (value: string, maxAgeSeconds: number) =>
    serializeCookie(ATTEMPT_COOKIE, value, {
      path: "/oidc",
      httpOnly: true,
      secure,
      // Lax: the IdP's answer is a cross-site top-level navigation, which must carry it.
      sameSite: "Lax",
      maxAgeSeconds,
    });
  const refusal = (reply: FastifyReply, status: number, message: string) =>
    reply
      .code(status)
      .header("content-type", "text/html; charset=utf-8")
      .header("cache-control", "no-store")
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><title>Sign-in failed · Stackyard</title></head>` +
          `<body><main><h1>Sign-in failed</h1><p role="alert" id="sso-error">${escapeHtml(message)}</p>` +
          `<p><a href="/login">Back to sign-in</a></p></main></body></html>`,
      );

  app.get("/auth/sso", async () =>
    deps.oidc
      ? { enabled: true, type: "OIDC", loginUrl: OIDC_LOGIN_PATH }
      : { enabled: false },
  );

  const limited = {
    config: {
      rateLimit: { max: SSO_LOGINS_PER_MINUTE, timeWindow: 60_000 },
    },
  };
  app.get(OIDC_LOGIN_PATH, limited, async (req, reply) => {
    if (!deps.oidc)
      return refusal(reply, 404, "single sign-on is not configured");
    const next = safeReturnPath((req.query as { next?: unknown }).next);
    try {
      const { attemptId, url } = await deps.oidc.begin(next);
      return reply
        .header("set-cookie", attemptCookie(attemptId, SSO_ATTEMPT_TTL_SECONDS))
        .header("cache-control", "no-store")
        .redirect(url.href, 302);
    } catch (err) {
      if (err instanceof SsoLoginError) {
        req.log.warn({ err }, "SSO sign-in could not start");
        return refusal(reply, 502, err.message);
      }
      throw err;
    }
  });

  app.get(OIDC_EXCHANGE_PATH, limited, async (req, reply) => {
    if (!deps.oidc)
      return refusal(reply, 404, "single sign-on is not configured");
    reply.header("set-cookie", attemptCookie("", 0));
    const attemptId = readCookie(req.headers.cookie, ATTEMPT_COOKIE);
    const current = new URL(req.url, deps.publicUrl);
    try {
      const { identity, returnTo } = await deps.oidc.complete(
        attemptId,
        new URL(`${deps.oidc.redirectUri}${current.search}`),
      );
      const { secret } = await deps.sessions.signIn(identity, {
        remoteIp: req.ip,
      });
      req.log.info({ user: identity.email }, "signed in through SSO");
      return reply
        .header("set-cookie", [
          attemptCookie("", 0),
          sessionCookie(secret, SESSION_ABSOLUTE_SECONDS),
        ])
        .header("cache-control", "no-store")
        .redirect(returnTo, 303);
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        req.log.warn({ err: err.message }, "SSO sign-in refused");
        return refusal(reply, 401, err.message);
      }
      throw err;
    }
  });

  app.get("/auth/session", async (req, reply) => {
    const secret = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (!secret) throw new UnauthorizedError("not signed in");
    const s = await deps.sessions.authenticate(secret);
    reply.header("cache-control", "no-store");
    return {
      user: {
        id: s.id,
        name: s.name,
        email: s.email,
        admin: s.admin,
        teams: s.teams,
      },
      csrfToken: s.csrfToken,
      expiresAt: Math.floor(s.expiresAt.getTime() / 1000),
    };
  });

  app.post("/auth/logout", async (req, reply) => {
    const secret = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (secret) {
      await cookieAuthenticator(deps.sessions)(req).catch((err: unknown) => {
        // An ended session may still sign out; a missing CSRF token may not.
        if (err instanceof UnauthorizedError && /CSRF/.test(err.message))
          throw err;
      });
      await deps.sessions.signOut(secret);
    }
    return reply.header("set-cookie", sessionCookie("", 0)).code(204).send();
  });
}
