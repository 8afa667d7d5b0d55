import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { startTestIdp, type TestIdp } from "../../../test/oidc-idp.ts";
import {
  createOidcLogin,
  safeReturnPath,
  SsoLoginError,
} from "./oidc-login.ts";

// The relying party against a real OpenID Provider (oidc-provider) and real Postgres:
// what the redirect asks for, and the answers it refuses before any session exists.
// The full browser flow is e2e/sso-oidc.test.ts.

describe("OIDC login", () => {
  let t: TestDatabase;
  let idp: TestIdp;
  const publicUrl = "http://127.0.0.1:1983";

  beforeAll(async () => {
    t = await createTestDatabase();
    idp = await startTestIdp({
      redirectUri: `${publicUrl}/oidc/exchange`,
      users: {},
    });
  });
  afterAll(async () => {
    await idp?.close();
    await t?.destroy();
  });

  const login = (issuerUrl = idp.issuer) =>
    createOidcLogin({
      db: t.db,
      clock: () => new Date(),
      publicUrl,
      settings: {
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        issuerUrl,
      },
    });

  it("redirects with PKCE (S256), state, nonce and the scopes the IdP offers", async () => {
    const { attemptId, url } = await login().begin("/stacks");
    expect(url.origin).toBe(idp.issuer);
    const p = url.searchParams;
    expect(p.get("redirect_uri")).toBe(`${publicUrl}/oidc/exchange`);
    expect(p.get("scope")).toBe("openid email profile groups");
    expect(p.get("code_challenge_method")).toBe("S256");
    expect(p.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    const row = await t.db
      .selectFrom("sso_login_attempts")
      .selectAll()
      .where("id", "=", attemptId)
      .executeTakeFirstOrThrow();
    expect(p.get("state")).toBe(row.state);
    expect(p.get("nonce")).toBe(row.nonce);
    expect(row.return_to).toBe("/stacks");
  });

  it("refuses an IdP whose discovery document names another issuer", async () => {
    const wrong = idp.issuer.replace("localhost", "127.0.0.1");
    await expect(login(wrong).begin("/")).rejects.toThrow(SsoLoginError);
    await expect(login(wrong).begin("/")).rejects.toThrow(
      /could not be used: .*issuer/i,
    );
  });

  it("consumes each attempt once, and refuses state mismatches and IdP errors by name", async () => {
    const l = login();
    const exchange = (query: string) =>
      new URL(`${publicUrl}/oidc/exchange?${query}`);
    const a = await l.begin("/");
    await expect(
      l.complete(a.attemptId, exchange("code=x&state=wrong")),
    ).rejects.toThrow(/state mismatch/);
    // Consumed: the right state cannot be replayed on it.
    await expect(
      l.complete(
        a.attemptId,
        exchange(`code=x&state=${a.url.searchParams.get("state")}`),
      ),
    ).rejects.toThrow(/not started from this browser/);
    const b = await l.begin("/");
    await expect(
      l.complete(
        b.attemptId,
        exchange("error=access_denied&error_description=user+cancelled"),
      ),
    ).rejects.toThrow(/refused the sign-in: access_denied \(user cancelled\)/);
    const c = await l.begin("/");
    await expect(
      l.complete(
        c.attemptId,
        exchange(
          `code=forged&state=${c.url.searchParams.get("state")}&iss=${encodeURIComponent(idp.issuer)}`,
        ),
      ),
    ).rejects.toThrow(/answer was refused/);
    await expect(
      l.complete(undefined, exchange("code=x&state=y")),
    ).rejects.toThrow(/not started from this browser/);
  });

  it("returns only to same-origin paths", () => {
    expect(safeReturnPath("/stacks?x=1")).toBe("/stacks?x=1");
    for (const bad of [
      "https://evil.example",
      "//evil.example",
      "/\\evil",
      "stacks",
      5,
    ])
      expect(safeReturnPath(bad)).toBe("/");
  });
});
