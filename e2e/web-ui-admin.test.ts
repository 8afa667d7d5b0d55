import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { SETUP, skipWithout } from "../apps/server/test/tools.ts";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCli, waitFor, type CliProcess } from "./harness.ts";
import {
  CHROMIUM,
  HAS_CHROMIUM,
  SHOTS,
  adminKey,
  ensureWebBuilt,
  git,
  launchBrowser,
  newPage,
  signIn,
  startUp,
  stopUp,
} from "./web-ui-harness.ts";

// The admin pages in a real browser, on their own `stackyard up`: create a worker pool
// (its token and private key are shown once) and start a launcher with them; create a
// context with a write-only variable and attach it to a stack; the state download
// explains itself when there is no state yet.
const describeBrowser = skipWithout(
  "Chromium",
  HAS_CHROMIUM ? null : `no ${CHROMIUM}`,
  SETUP.chromium,
)
  ? describe.skip
  : describe;

describeBrowser(
  HAS_CHROMIUM
    ? "the web UI's admin pages"
    : "the web UI's admin pages (skipped: /usr/bin/chromium is absent; install it with SETUP_BROWSER=1 npm run setup)",
  () => {
    let up: CliProcess;
    let dataDir: string;
    let base: string;
    let repo: string;
    let browser: Browser;
    let page: Page;
    let launcher: CliProcess | undefined;
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
      repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-admin-repo-"));
      git(repo, "init", "-q", "-b", "main");
      await writeFile(
        path.join(repo, "main.tf"),
        'output "x" {\n  value = 1\n}\n',
      );
      git(repo, "add", ".");
      git(repo, "commit", "-q", "-m", "x");
      ({ up, base, dataDir } = await startUp("stackyard-web-admin-"));
      browser = await launchBrowser();
      page = await newPage(browser, pageErrors);
      await signIn(page, base, await adminKey(dataDir));
    }, 180_000);

    afterEach(async (ctx) => {
      if (ctx.task.result?.state === "fail" && page) {
        await shot("admin-failure").catch(() => undefined);
        console.error(`page errors:\n${pageErrors.join("\n") || "(none)"}`);
      }
    });

    afterAll(async () => {
      if (launcher && launcher.child.exitCode === null) {
        launcher.child.kill("SIGTERM");
        await Promise.race([
          launcher.exited,
          new Promise((r) => setTimeout(r, 10_000)),
        ]);
      }
      await browser?.close();
      await stopUp(up);
    });

    it("creates a pool whose once-shown credentials start a launcher", async () => {
      await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name: "Worker pools" })
        .click();
      await page.getByRole("heading", { name: "Worker pools" }).waitFor();
      await page.getByRole("button", { name: "New worker pool" }).click();

      // The form refuses an empty name in place.
      await page.getByRole("button", { name: "Create pool" }).click();
      await page.getByText("Give the pool a name.").waitFor();
      await page.getByLabel("Name").fill("Build pool");
      await page.getByLabel("Description (optional)").fill("For the e2e test");
      await page.getByRole("button", { name: "Create pool" }).click();

      const creds = page.getByTestId("pool-credentials");
      await creds.waitFor();
      await creds.getByText("shown only once").waitFor();
      const token = (await page.getByTestId("pool-token").textContent()) ?? "";
      const key =
        (await page.getByTestId("pool-private-key").textContent()) ?? "";
      const command =
        (await page.getByTestId("pool-launcher-command").textContent()) ?? "";
      expect(token).toMatch(/^[A-Za-z0-9+/=]{20,}$/);
      expect(Buffer.from(key, "base64").toString()).toMatch(
        /BEGIN PRIVATE KEY/,
      );
      expect(command).toBe(
        `STACKYARD_TOKEN=${token} STACKYARD_POOL_PRIVATE_KEY=${key} stackyard launcher`,
      );
      expect(await creds.getByRole("button", { name: "Copy" }).count()).toBe(3);
      await shot("admin-01-pool-credentials");

      // Once dismissed, the credentials are gone from the page for good.
      await page.getByRole("button", { name: "I have saved them" }).click();
      await creds.waitFor({ state: "detached" });
      expect(await page.content()).not.toContain(token);
      const pool = page.getByRole("region", {
        name: "Build pool",
        exact: true,
      });
      await pool.getByText("No workers have connected").waitFor();

      // A launcher started with exactly those values shows up as the pool's worker.
      launcher = runCli(["launcher"], {
        STACKYARD_TOKEN: token,
        STACKYARD_POOL_PRIVATE_KEY: key,
        STACKYARD_LAUNCHER_WORK_DIR: path.join(dataDir, "ui-pool-launcher"),
        STACKYARD_METADATA_ROLE: "e2e",
        STACKYARD_LOG_LEVEL: "warn",
      });
      await pool
        .getByRole("button", { name: "Drain" })
        .waitFor({ timeout: 30_000 })
        .catch((err: unknown) => {
          throw new Error(
            `${String(err)}\nlauncher output:\n${launcher?.output() ?? ""}`,
          );
        });
      await pool.getByText("role=e2e").waitFor();
      await shot("admin-02-pool-worker");

      // Cycling asks first, then tells the worker to exit after its current run.
      await pool.getByRole("button", { name: "Cycle workers…" }).click();
      await pool.getByText(/Restart all 1 worker of/).waitFor();
      await pool.getByRole("button", { name: "Cancel" }).click();
      await pool.getByRole("button", { name: "Cycle workers…" }).click();
      await pool
        .getByRole("button", { name: "Cycle workers", exact: true })
        .click();
      await pool.getByText("Cycle requested").waitFor();
      const exited = launcher;
      await waitFor(
        "the cycled launcher to exit",
        async () => exited.child.exitCode !== null,
        30_000,
      );
    }, 90_000);

    it("creates a context with a write-only variable and attaches it to a stack", async () => {
      // A stack to attach to, created through the API-backed form.
      await page.goto(`${base}/stacks/new`);
      await page.getByLabel("Name").fill("Target");
      await page.getByLabel("Repository").fill(repo);
      await page.getByLabel("Branch").fill("main");
      await page.getByRole("button", { name: "Create stack" }).click();
      await page.waitForURL(`${base}/stack/target`);

      await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name: "Contexts" })
        .click();
      await page.getByRole("heading", { name: "Contexts" }).waitFor();
      await page.getByText("No contexts yet").waitFor();
      await page.getByRole("button", { name: "New context" }).click();
      await page.getByLabel("Name").fill("Shared env");
      await page
        .getByLabel("Labels (optional)")
        .fill("team:infra, autoattach:");
      await page.getByRole("button", { name: "Create context" }).click();
      await page.getByText("Write the stack label after autoattach:").waitFor();
      await page
        .getByLabel("Labels (optional)")
        .fill("team:infra, autoattach:never");
      await page.getByRole("button", { name: "Create context" }).click();
      await page.waitForURL(`${base}/context/shared-env`);
      await page.getByRole("heading", { name: "Shared env" }).waitFor();
      await page
        .getByText("Attached automatically to stacks labelled")
        .waitFor();

      // A secret is write-only: the page says it is set, never what it is.
      const env = page.getByRole("region", { name: "Environment" });
      await env.getByLabel("Name", { exact: true }).fill("SHARED_TOKEN");
      await env.getByLabel("Value").fill("ctx-s3cret-value");
      await env.getByRole("button", { name: "Save variable" }).click();
      await env.getByText("secret · set").waitFor();
      expect(await page.content()).not.toContain("ctx-s3cret-value");
      await page.reload();
      await page.getByText("secret · set").waitFor();
      expect(await page.content()).not.toContain("ctx-s3cret-value");
      // Editing keeps the variables; the description shows at once.
      await page.getByLabel("Description (optional)").fill("Shared variables");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Saved.").waitFor();
      await page.getByText("Shared variables", { exact: true }).waitFor();
      await env.getByText("secret · set").waitFor();
      await shot("admin-03-context");

      // Attach from the stack page with a priority, then detach.
      await page.goto(`${base}/stack/target`);
      const contexts = page.getByRole("region", {
        name: "Contexts",
        exact: true,
      });
      await contexts.getByText("No contexts attached.").waitFor();
      await contexts
        .getByLabel("Context")
        .selectOption({ label: "Shared env" });
      await contexts.getByLabel("Priority").fill("-1");
      await contexts.getByRole("button", { name: "Attach context" }).click();
      await contexts.getByText("Priority must be a whole number").waitFor();
      await contexts.getByLabel("Priority").fill("5");
      await contexts.getByRole("button", { name: "Attach context" }).click();
      const table = page.getByTestId("stack-contexts");
      await table.getByRole("link", { name: "Shared env" }).waitFor();
      expect(await table.textContent()).toContain("5");
      await shot("admin-04-stack-contexts");

      // No run has applied yet, so there is no state to download: said in plain words.
      await page
        .getByRole("button", { name: "Download current state" })
        .click();
      await page.getByText("This stack has no state yet").waitFor();

      await contexts.getByRole("button", { name: "Detach Shared env" }).click();
      await contexts.getByText("No contexts attached.").waitFor();

      // Dark theme at phone width stays readable.
      await page.getByRole("button", { name: /^Theme:/ }).click();
      await page.getByRole("button", { name: /^Theme:/ }).click();
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${base}/contexts`);
      await page.getByRole("link", { name: "Shared env" }).waitFor();
      await shot("admin-05-contexts-dark-phone");
      expect(pageErrors).toEqual([]);
    }, 60_000);
  },
);
