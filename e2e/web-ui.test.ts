import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { SETUP, skipWithout } from "../apps/server/test/tools.ts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { CliProcess } from "./harness.ts";
import { adminClient } from "./run-kit.ts";
import {
  CHROMIUM,
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

const describeBrowser = skipWithout(
  "Chromium",
  HAS_CHROMIUM ? null : `no ${CHROMIUM}`,
  SETUP.chromium,
)
  ? describe.skip
  : describe;

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

      // The per-resource diff: the resource with its action, and on expanding it the
      // attributes before and after, key by key.
      const diff = page.getByTestId("plan-diff");
      const resource = diff.getByRole("button", {
        name: /create\s*terraform_data\.greeting/,
      });
      await resource.waitFor({ timeout: 30_000 });
      expect(await resource.getAttribute("aria-expanded")).toBe("false");
      await resource.focus();
      await page.keyboard.press("Enter");
      expect(await resource.getAttribute("aria-expanded")).toBe("true");
      const attrs = diff.locator("table.attr-diff");
      await attrs.getByRole("rowheader", { name: /^input/ }).waitFor();
      const inputRow = attrs.locator("tr", {
        has: page.getByRole("rowheader", { name: /^input/ }),
      });
      expect(await inputRow.textContent()).toContain("hello");
      expect(await attrs.textContent()).toContain("(known after apply)");
      await shot("05b-run-plan-diff");

      // Only the actions the state allows are offered.
      await expect(
        page.getByRole("button", { name: "Stop" }).count(),
      ).resolves.toBe(0);
      await page.getByRole("button", { name: "Confirm" }).click();
      await page
        .getByTestId("run-state")
        .locator('[data-state="FINISHED"]')
        .waitFor({ timeout: 180_000 });
      await logs
        .getByText(/Apply complete! Resources: 1 added/)
        .waitFor()
        .catch(async (err: unknown) => {
          // Say what the page did receive: the live status and each log section's tail.
          const sections = logs.locator("section.log-phase");
          const received: string[] = [];
          for (let i = 0; i < (await sections.count()); i++) {
            const s = sections.nth(i);
            const text = (await s.textContent()) ?? "";
            received.push(
              `[${await s.getAttribute("data-phase")}] …${text.slice(-300)}`,
            );
          }
          const status = await page.locator(".run-logs .live").textContent();
          throw new Error(
            `no apply logs on the run page (live status: ${status}; ${eventStreams} event streams opened); log sections:\n${received.join("\n") || "(none)"}`,
            { cause: err },
          );
        });
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

      // The State tab lists the version the apply wrote, marked current, with a
      // download of its own.
      await page.getByRole("tab", { name: "State" }).click();
      const versions = page.getByTestId("state-versions");
      await versions.waitFor();
      await versions.getByTestId("state-current").waitFor();
      const current = versions.locator("tr", {
        has: page.getByTestId("state-current"),
      });
      expect(await current.textContent()).toMatch(/#\d+/);
      expect(await current.getByRole("link", { name: /^run / }).count()).toBe(
        1,
      );
      const [versionDownload] = await Promise.all([
        page.waitForEvent("download", { timeout: 30_000 }),
        current
          .getByRole("button", { name: /^Download state serial \d+$/ })
          .click(),
      ]);
      expect(versionDownload.suggestedFilename()).toMatch(/\.tfstate$/);
      const versionState = JSON.parse(
        await readFile(await versionDownload.path(), "utf8"),
      ) as { outputs: Record<string, { value: unknown }> };
      expect(versionState.outputs.greeting?.value).toBe("hello");
      await shot("07b-stack-state-history");
      await page.getByRole("tab", { name: "Overview" }).click();

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

    it("shows an update's before and after, and rolls the state back from the State tab", async () => {
      // Needs the first scenario's stack, applied once.
      await page.setViewportSize({ width: 1280, height: 900 });
      // The new resource's provisioner keeps the apply busy for a few seconds, long
      // enough to see the run on the worker pools page.
      await writeFile(
        path.join(repo, "main.tf"),
        `${MAIN_TF.replace('"hello"', '"hola"')}
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 6"
  }
}
`,
      );
      git(repo, "commit", "-q", "-am", "hola");
      // A run uses the stack's tracked commit, which the poller moves on its next pass;
      // sync it now, as `spacectl stack sync-commit` does, rather than wait for that.
      const client = await adminClient(base, dataDir);
      await client.request<unknown>(
        'mutation{stackSyncCommit(id: "greeting"){id}}',
        {},
      );

      await page.goto(`${base}/stack/greeting`);
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/stack\/greeting\/run\/[^/]+$/);
      await page
        .getByTestId("run-state")
        .locator('[data-state="UNCONFIRMED"]')
        .waitFor({ timeout: 120_000 });
      const resource = page.getByTestId("plan-diff").getByRole("button", {
        name: /(update|replace)\s*terraform_data\.greeting/,
      });
      await resource.click();
      const inputRow = page.locator("table.attr-diff tr", {
        has: page.getByRole("rowheader", { name: /^input/ }),
      });
      const cells = inputRow.getByRole("cell");
      expect(await cells.nth(0).textContent()).toBe("hello");
      expect(await cells.nth(1).textContent()).toBe("hola");
      await shot("11-run-update-diff-dark");
      const runUrl = page.url();
      await page.getByRole("button", { name: "Confirm" }).click();
      await page
        .getByTestId("run-state")
        .locator('[data-state="APPLYING"]')
        .waitFor({ timeout: 120_000 });

      // While it applies, the worker pools page shows the run on its worker.
      await page.getByRole("link", { name: "Worker pools" }).click();
      const currentRun = page.getByTestId("worker-current-run");
      await currentRun.waitFor({ timeout: 10_000 });
      expect(await currentRun.textContent()).toMatch(/greeting \/ .*applying/);
      await shot("12-worker-current-run");
      await currentRun.click();
      await page.waitForURL(runUrl);
      await page
        .getByTestId("run-state")
        .locator('[data-state="FINISHED"]')
        .waitFor({ timeout: 180_000 });

      // Two applied versions: roll back to the older one, confirming in a dialog.
      await page.goto(`${base}/stack/greeting#state`);
      const versions = page.getByTestId("state-versions");
      await versions.waitFor();
      const rows = versions.locator("tbody tr");
      await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(2);
      const oldest = rows.last();
      const serial = Number(await oldest.getAttribute("data-serial"));
      await oldest
        .getByRole("button", { name: `Roll back to serial ${serial}` })
        .click();
      const dialog = page.getByRole("dialog", {
        name: `Roll back to serial ${serial}?`,
      });
      await dialog.waitFor();
      await shot("13-rollback-dialog");
      await dialog.getByRole("button", { name: "Roll back" }).click();
      await dialog.getByTestId("rollback-done").waitFor({ timeout: 30_000 });
      expect(await dialog.getByTestId("rollback-done").textContent()).toContain(
        `a copy of serial ${serial}`,
      );
      await dialog.getByRole("button", { name: "Close" }).click();
      await dialog.waitFor({ state: "hidden" });
      const current = versions.locator("tr", {
        has: page.getByTestId("state-current"),
      });
      await current.getByText(`rollback of #${serial}`).waitFor();
      await shot("14-state-rolled-back");
      // The dialog locked the stack for the rollback and unlocked it afterwards; the
      // outputs are those of the restored version.
      await page.getByRole("tab", { name: "Overview" }).click();
      await page.getByText("Not locked.").waitFor();
      const outputs = page.getByTestId("stack-outputs");
      await expect
        .poll(() => outputs.textContent(), { timeout: 10_000 })
        .toContain('"hello"');
    }, 420_000);
  },
);
