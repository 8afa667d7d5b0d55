import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql } from "./harness.ts";
import {
  HAS_CHROMIUM,
  adminKey,
  ensureWebBuilt,
  launchBrowser,
  newPage,
  signIn,
  startUp,
  stopUp,
} from "./web-ui-harness.ts";
import type { CliProcess } from "./harness.ts";

// The API keys page in a real browser on its own `stackyard up`: create a key (its
// secret shown once, and it logs in), then delete it (and it no longer does).
const describeBrowser = HAS_CHROMIUM ? describe : describe.skip;

describeBrowser(
  HAS_CHROMIUM
    ? "the web UI's API keys page"
    : "the web UI's API keys page (skipped: /usr/bin/chromium is absent)",
  () => {
    let up: CliProcess;
    let base: string;
    let browser: Browser;
    let page: Page;
    const pageErrors: string[] = [];

    const login = (id: string, secret: string) =>
      graphql<{ apiKeyUser: { jwt: string } | null }>(
        base,
        "mutation($id:ID!$secret:String!){apiKeyUser(id: $id, secret: $secret){jwt}}",
        { id, secret },
      );

    beforeAll(async () => {
      ensureWebBuilt();
      let dataDir: string;
      ({ up, base, dataDir } = await startUp("stackyard-web-keys-"));
      browser = await launchBrowser();
      page = await newPage(browser, pageErrors);
      await signIn(page, base, await adminKey(dataDir));
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await stopUp(up);
    });

    it("creates a key showing its secret once, and deletes it", async () => {
      await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name: "API keys" })
        .click();
      await page.getByRole("heading", { name: "API keys" }).waitFor();
      await page.getByRole("button", { name: "New API key" }).click();
      await page.getByRole("button", { name: "Create key" }).click();
      await page.getByText("Give the key a name.").waitFor();
      await page.getByLabel("Name").fill("ci from the UI");
      await page.getByRole("button", { name: "Create key" }).click();

      const panel = page.getByTestId("api-key-secret");
      await panel.getByText("shown only once").waitFor();
      const id = (await page.getByTestId("api-key-id").textContent()) ?? "";
      const secret =
        (await page.getByTestId("api-key-secret-value").textContent()) ?? "";
      expect(id).toMatch(/^[0-9A-Z]{26}$/);
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      const href =
        (await panel
          .getByRole("link", { name: "Download credentials file" })
          .getAttribute("href")) ?? "";
      expect(decodeURIComponent(href)).toContain(`token = "${id}/${secret}"`);
      expect((await login(id, secret)).data?.apiKeyUser?.jwt).toBeTruthy();

      await page.getByRole("button", { name: "I saved it" }).click();
      await panel.waitFor({ state: "detached" });
      expect(await page.content()).not.toContain(secret);
      const card = page.getByRole("region", { name: "API key ci from the UI" });
      await card.getByText("none").waitFor();

      await card.getByRole("button", { name: "Delete ci from the UI" }).click();
      await card.getByRole("button", { name: "Delete key" }).click();
      await card.waitFor({ state: "detached" });
      expect((await login(id, secret)).data?.apiKeyUser).toBeNull();
      expect(pageErrors).toEqual([]);
    }, 120_000);
  },
);
