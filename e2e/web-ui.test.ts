import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { CliProcess } from "./harness.ts";
import {
  HAS_CHROMIUM,
  SHOTS,
  ensureWebBuilt,
  git,
  launchBrowser,
  newPage,
  startUp,
  stopUp,
} from "./web-ui-harness.ts";

// The first-use path in a real browser: sign in with the key `stackyard up` wrote,
// create a stack on a local git repository through the form, trigger a run, watch its
// logs arrive live, confirm it, and see it FINISHED with the stack's new outputs.
// Chromium is Debian's (/usr/bin/chromium; `SETUP_BROWSER=1 npm run setup` installs it).
const MAIN_TF = `
variable "greeting" {
  type    = string
  default = "hello"
}
resource "terraform_data" "greeting" {
  input = var.greeting
}
output "greeting" {
  value = terraform_data.greeting.output
}
`;

const describeBrowser = HAS_CHROMIUM ? describe : describe.skip;

describeBrowser(
  HAS_CHROMIUM
    ? "the web UI on stackyard up"
    : "the web UI (skipped: /usr/bin/chromium is absent; install it with SETUP_BROWSER=1 npm run setup)",
  () => {
    let up: CliProcess;
    let dataDir: string;
    let repo: string;
    let base: string;
    let browser: Browser;
    let page: Page;
    let eventStreams = 0;
    const pageErrors: string[] = [];

    async function shot(name: string): Promise<void> {
      await page.screenshot({
        path: path.join(SHOTS, `${name}.png`),
        fullPage: true,
      });
    }

    beforeAll(async () => {
      ensureWebBuilt();
      await mkdir(SHOTS, { recursive: true });
      repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-web-repo-"));
      git(repo, "init", "-q", "-b", "main");
      await writeFile(path.join(repo, "main.tf"), MAIN_TF);
      git(repo, "add", ".");
      git(repo, "commit", "-q", "-m", "greeting");
      ({ up, base, dataDir } = await startUp("stackyard-web-e2e-"));
      browser = await launchBrowser();
      page = await newPage(browser, pageErrors);
      page.on("request", (req) => {
        if (/\/api\/v1\/stacks\/[^/]+\/runs\/[^/]+\/events/.test(req.url()))
          eventStreams++;
      });
    }, 240_000);

    afterEach(async (ctx) => {
      // On failure: what the page showed and any errors it logged.
      if (ctx.task.result?.state === "fail" && page) {
        await shot("failure").catch(() => undefined);
        console.error(`page errors:\n${pageErrors.join("\n") || "(none)"}`);
      }
    });

    afterAll(async () => {
      await browser?.close();
      await stopUp(up);
    });

    it("signs in, creates a stack, runs, confirms and shows its outputs", async () => {
      const key = JSON.parse(
        await readFile(path.join(dataDir, "admin-api-key.json"), "utf8"),
      ) as { id: string; secret: string };

      // First login: any UI path sends an anonymous visitor to the sign-in page.
      await page.goto(`${base}/stacks`);
      await page.getByLabel("API key id").waitFor();
      await shot("01-login");
      await page.getByLabel("API key id").fill(key.id);
      await page.getByLabel("API key secret").fill("wrong");
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("alert").waitFor();
      expect(await page.getByRole("alert").textContent()).toMatch(
        /wrong secret/i,
      );
      await page.getByLabel("API key secret").fill(key.secret);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("heading", { name: "Stacks" }).waitFor();
      await page.getByText("No stacks yet").waitFor();
      await shot("02-stacks-empty");

      // Create a stack: the form refuses bad fields in place before sending anything.
      await page.getByRole("link", { name: "New stack" }).click();
      await page.getByRole("heading", { name: "New stack" }).waitFor();
      await page.getByLabel("Repository").fill("not-a-repo");
      await page.getByLabel("Branch").fill("");
      await page.getByRole("button", { name: "Create stack" }).click();
      await page.getByText("Give the stack a name.").waitFor();
      await page.getByText("That does not look like a repository").waitFor();
      await page.getByText("Enter the branch to track").waitFor();
      await shot("03-create-stack-errors");
      await page.getByLabel("Name").fill("Greeting");
      await page.getByLabel("Repository").fill(repo);
      await page.getByLabel("Branch").fill("main");
      await shot("04-create-stack-filled");
      await page.getByRole("button", { name: "Create stack" }).click();
      await page.waitForURL(`${base}/stack/greeting`);
      await page.getByRole("heading", { name: "Greeting" }).waitFor();

      // A secret environment variable is write-only: the page only says it is set.
      await page.getByLabel("Name", { exact: true }).fill("TF_VAR_unused");
      await page.getByLabel("Value").fill("s3cret-value");
      await page.getByRole("button", { name: "Save variable" }).click();
      await page.getByText("secret · set").waitFor();
      expect(await page.content()).not.toContain("s3cret-value");

      // Trigger a run and watch its logs arrive on the run page, without reloading.
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/stack\/greeting\/run\/[^/]+$/);
      const logs = page.getByTestId("run-logs");
      const runUrl = page.url();
      await logs.waitFor();
      // Count how often new log text lands in the page (without any reload).
      // (Browser code as a string: this file is type-checked without the DOM lib.)
      await page.evaluate(`(() => {
        const el = document.querySelector('[data-testid="run-logs"]');
        window.logGrowth = [];
        new MutationObserver(() => {
          const n = el.textContent.length;
          if (n > (window.logGrowth.at(-1) ?? 0)) window.logGrowth.push(n);
        }).observe(el, { childList: true, subtree: true, characterData: true });
      })()`);
      await logs
        .getByText(/terraform_data\.greeting will be created/)
        .waitFor({ timeout: 120_000 });
      expect(page.url()).toBe(runUrl);
      await page
        .getByTestId("run-state")
        .locator('[data-state="UNCONFIRMED"]')
        .waitFor({ timeout: 120_000 });
      await page.getByTestId("plan-delta").getByText("+1 to add").waitFor();
      await shot("05-run-unconfirmed");

      // Only the actions the state allows are offered.
      await expect(
        page.getByRole("button", { name: "Stop" }).count(),
      ).resolves.toBe(0);
      await page.getByRole("button", { name: "Confirm" }).click();
      await page
        .getByTestId("run-state")
        .locator('[data-state="FINISHED"]')
        .waitFor({ timeout: 180_000 });
      await logs.getByText(/Apply complete! Resources: 1 added/).waitFor();
      // The run page followed the run over the SSE channel, not by polling.
      expect(eventStreams).toBeGreaterThan(0);
      const growth = await page.evaluate<number[]>("window.logGrowth");
      // Planning and then applying logs arrived in separate live updates.
      expect(growth.length).toBeGreaterThanOrEqual(2);
      expect(page.url()).toBe(runUrl);
      await expect(
        page.getByRole("button", { name: "Confirm" }).count(),
      ).resolves.toBe(0);
      await shot("06-run-finished");

      // The stack now shows the run as FINISHED and the output of the new state.
      await page.getByRole("link", { name: "Greeting" }).click();
      await page.waitForURL(`${base}/stack/greeting`);
      const outputs = page.getByTestId("stack-outputs");
      await outputs.getByText("greeting").waitFor();
      expect(await outputs.textContent()).toContain('"hello"');
      await page
        .getByTestId("stack-runs")
        .locator('[data-state="FINISHED"]')
        .waitFor();
      await shot("07-stack");

      // The current state downloads as a file (the signed URL needs no bearer token).
      const [download] = await Promise.all([
        page.waitForEvent("download", { timeout: 30_000 }),
        page.getByRole("button", { name: "Download current state" }).click(),
      ]);
      expect(download.suggestedFilename()).toMatch(/^greeting.*\.tfstate$/);
      const stateFile = await download.path();
      const state = JSON.parse(await readFile(stateFile, "utf8")) as {
        outputs: Record<string, { value: unknown }>;
      };
      expect(state.outputs.greeting?.value).toBe("hello");
      await page.getByText(/(State downloaded|Download started)\./).waitFor();

      await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name: "Stacks" })
        .click();
      await page.getByRole("button", { name: "Finished" }).click();
      await page.getByRole("link", { name: "Greeting" }).waitFor();
      await shot("08-stacks-finished");

      await page.getByRole("link", { name: "Worker pools" }).click();
      await page.getByRole("heading", { name: "Worker pools" }).waitFor();
      await page
        .getByRole("button", { name: /^(Drain|Undrain)$/ })
        .first()
        .waitFor();
      await shot("09-worker-pools");

      // Dark theme and phone width stay readable.
      await page.getByRole("button", { name: /^Theme:/ }).click();
      await page.getByRole("button", { name: /^Theme:/ }).click();
      expect(
        await page.evaluate<string>("document.documentElement.dataset.theme"),
      ).toBe("dark");
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(runUrl);
      await page
        .getByTestId("run-state")
        .locator('[data-state="FINISHED"]')
        .waitFor();
      await shot("10-run-dark-phone");
    }, 420_000);
  },
);
