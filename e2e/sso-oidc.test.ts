import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./harness.ts";
import { startUp, type Stackyard } from "./run-kit.ts";
import { startTestIdp, type TestIdp } from "../apps/server/test/oidc-idp.ts";
import {
  ensureWebBuilt,
  HAS_CHROMIUM,
  launchBrowser,
} from "./web-ui-harness.ts";

// OIDC single sign-on end to end: `stackyard up` configured through config.json's
// sso_config against a real OpenID Provider (oidc-provider) in the test process, driven
// in Chromium: Stackyard → the IdP's login and consent pages → /oidc/exchange → signed
// in with an HttpOnly session cookie whose GraphQL calls need the CSRF token. Then the
// refusals: a state mismatch, an answer this browser never asked for, a login policy on
// the IdP's groups; each with its message and no session.

const USERS = {
  alice: {
    email: "alice@example.com",
    name: "Alice Admin",
    groups: ["platform"],
  },
  bob: {
    email: "bob@example.com",
    name: "Bob Builder",
    groups: ["engineering"],
  },
  carol: {
    email: "carol@example.com",
    name: "Carol Contractor",
    groups: ["contractors"],
  },
};

describe.skipIf(!HAS_CHROMIUM)("OIDC single sign-on", () => {
  let idp: TestIdp;
  let sy: Stackyard;
  let browser: Browser;

  beforeAll(async () => {
    ensureWebBuilt();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    idp = await startTestIdp({
      port: await freePort(),
      redirectUri: `${base}/oidc/exchange`,
      users: USERS,
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-sso-"));
    const configFile = path.join(dir, "config.json");
    await writeFile(
      configFile,
      JSON.stringify({
        sso_config: {
          sso_type: "OIDC",
          admin_login: USERS.alice.email,
          oidc_args: {
            client_id: idp.clientId,
            client_credentials: idp.clientSecret,
            identity_provider_host: idp.issuer,
          },
        },
      }),
    );
    sy = await startUp(
      {
        STACKYARD_CONFIG_FILE: configFile,
        STACKYARD_PUBLIC_URL: base,
        ADMIN_USERNAME: "breakglass",
        ADMIN_PASSWORD: "break-glass-password-0123456789",
      },
      { port },
    );
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await sy?.stop();
    await idp?.close();
  });

  /**
   * Starts at Stackyard (its sign-in page's SSO button, or /oidc/login directly), signs in
   * at the IdP as `login`; returns where the browser lands.
   */
  async function signInAt(
    page: Page,
    login: string,
    from: "ui" | "direct" = "direct",
  ): Promise<string> {
    if (from === "ui") {
      await page.goto(`${sy.base}/stacks`);
      await page.getByRole("link", { name: "Sign in with SSO" }).click();
    } else await page.goto(`${sy.base}/oidc/login?next=/stacks`);
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill("correct horse");
    await page.locator('button[type="submit"]').click();
    // The IdP's consent page, then back to Stackyard.
    await page.locator('button[type="submit"]').click();
    await page.waitForURL((u) => u.href.startsWith(sy.base));
    return page.url();
  }

  async function sessionOf(page: Page) {
    return page.evaluate(async () => {
      const r = await fetch("/auth/session");
      return {
        status: r.status,
        body: (await r.json()) as {
          user?: {
            name: string;
            email: string;
            admin: boolean;
            teams: string[];
          };
          csrfToken?: string;
        },
      };
    });
  }

  async function viewer(page: Page, csrf: string | null) {
    return page.evaluate(async (token) => {
      const r = await fetch("/graphql", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { "x-csrf-token": token } : {}),
        },
        body: JSON.stringify({ query: "{ viewer { id name } }" }),
      });
      return ((await r.json()) as { data: { viewer: unknown } }).data.viewer;
    }, csrf);
  }

  async function fresh(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    return { context, page };
  }

  it("signs a person in from the sign-in page through the IdP with an HttpOnly session cookie, the first SSO login as admin", async () => {
    const { context, page } = await fresh();
    try {
      const landed = await signInAt(page, "alice", "ui");
      expect(new URL(landed).pathname).toBe("/stacks");
      await page.getByRole("heading", { name: "Stacks" }).waitFor();
      await expect(page.locator(".viewer").textContent()).resolves.toBe(
        "Alice Admin",
      );
      const cookie = (await context.cookies(sy.base)).find(
        (c) => c.name === "stackyard_session",
      );
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax" });
      expect(await page.evaluate("document.cookie")).not.toContain(
        "stackyard_session",
      );

      const session = await sessionOf(page);
      expect(session.status).toBe(200);
      expect(session.body.user).toMatchObject({
        name: "Alice Admin",
        email: "alice@example.com",
        admin: true,
        teams: ["platform"],
      });
      const csrf = session.body.csrfToken ?? "";
      expect(await viewer(page, csrf)).toMatchObject({ name: "Alice Admin" });
      // The cookie alone (what a cross-site page could make the browser send) is not enough.
      expect(await viewer(page, null)).toBeNull();
      expect(await viewer(page, "forged")).toBeNull();

      // Logout without the CSRF token is refused; the UI's Sign out ends the session
      // server-side, not only in this browser.
      const forged = await page.evaluate(
        async () => (await fetch("/auth/logout", { method: "POST" })).status,
      );
      expect(forged).toBe(401);
      expect((await sessionOf(page)).status).toBe(200);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL((u) => u.pathname === "/login");
      expect((await sessionOf(page)).status).toBe(401);
      expect(await viewer(page, csrf)).toBeNull();
    } finally {
      await context.close();
    }
  }, 120_000);

  it("refuses an answer whose state does not match the sign-in, with no session", async () => {
    const { context, page } = await fresh();
    try {
      await page.goto(`${sy.base}/oidc/login`);
      await page.waitForURL((u) => u.href.startsWith(idp.issuer));
      const res = await page.goto(
        `${sy.base}/oidc/exchange?code=stolen&state=not-the-one`,
      );
      expect(res?.status()).toBe(401);
      await expect(page.locator("#sso-error").textContent()).resolves.toMatch(
        /state mismatch/,
      );
      expect((await sessionOf(page)).status).toBe(401);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("refuses an answer this browser never asked for (login CSRF)", async () => {
    const { context, page } = await fresh();
    try {
      const res = await page.goto(
        `${sy.base}/oidc/exchange?code=abc&state=xyz`,
      );
      expect(res?.status()).toBe(401);
      await expect(page.locator("#sso-error").textContent()).resolves.toMatch(
        /not started from this browser/,
      );
      expect(
        (await context.cookies(sy.base)).some(
          (c) => c.name === "stackyard_session",
        ),
      ).toBe(false);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("applies login policies to the IdP's groups (session.teams), and break-glass login still works", async () => {
    await sy.client.request(
      `mutation($input: PolicyCreateInput!){policyCreatev2(input: $input){id}}`,
      {
        input: {
          name: "Engineering only",
          type: "LOGIN",
          labels: [],
          body: `package spacelift\n\nimport rego.v1\n\nallow if "engineering" in input.session.teams\n`,
        },
      },
    );
    const bob = await fresh();
    try {
      await signInAt(bob.page, "bob");
      const session = await sessionOf(bob.page);
      expect(session.body.user).toMatchObject({
        email: "bob@example.com",
        admin: false,
        teams: ["engineering"],
      });
    } finally {
      await bob.context.close();
    }
    const carol = await fresh();
    try {
      await signInAt(carol.page, "carol");
      await expect(
        carol.page.locator("#sso-error").textContent(),
      ).resolves.toMatch(/login refused by login policy/);
      expect((await sessionOf(carol.page)).status).toBe(401);
    } finally {
      await carol.context.close();
    }
    const breakGlass = await fetch(`${sy.base}/admin-login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        username: "breakglass",
        password: "break-glass-password-0123456789",
      }),
    });
    expect(breakGlass.status).toBe(200);
  }, 120_000);
});
