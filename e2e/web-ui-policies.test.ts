import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
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
  adminKey,
  ensureWebBuilt,
  git,
  launchBrowser,
  newPage,
  signIn,
  startUp,
  stopUp,
} from "./web-ui-harness.ts";

// Policies, reviews and VCS in a real browser on `stackyard up` (embedded Postgres and
// OPA, a local launcher running OpenTofu): a plan policy is refused in place with the
// line of its problem, fixed into a `warn` policy, attached to an autodeploy stack whose
// run then stops at UNCONFIRMED with the warning shown; an approval policy (auto-attached
// by label) holds the next run until it is approved on the run page. The stack shows
// why the raw git poller ran nothing, and VCS integrations are created with write-only
// secrets and a copyable webhook URL, then edited (a new description, a rotated webhook
// secret that the webhook then requires) without the page ever showing a secret.
const MAIN_TF = `
resource "terraform_data" "greeting" {
  input = "hello"
}
`;

// `time.now_ns` is one of the built-ins a policy may not call.
const DISABLED_BUILTIN = `package spacelift

import rego.v1

warn contains "late" if time.now_ns() > 0
`;

// Line 7 misses the closing parenthesis of sprintf.
const SYNTAX_ERROR = `package spacelift

import rego.v1

warn contains msg if {
  some rc in input.terraform.resource_changes
  msg := sprintf("%s needs a second look", [rc.address]
}

sample := true
`;

const WARN_POLICY = SYNTAX_ERROR.replace("[rc.address]\n", "[rc.address])\n");

const APPROVAL_POLICY = `package spacelift

import rego.v1

approve if count(input.reviews.current.approvals) >= 1

reject if count(input.reviews.current.rejections) > 0
`;

const STACK_CREATE = `mutation($input: StackInput!){stackCreate(input: $input, manageState: true){id}}`;

const describeBrowser = skipWithout(
  "Chromium",
  HAS_CHROMIUM ? null : `no ${CHROMIUM}`,
  SETUP.chromium,
)
  ? describe.skip
  : describe;

describeBrowser(
  HAS_CHROMIUM
    ? "the web UI's policies, reviews and VCS pages"
    : "the web UI's policies, reviews and VCS pages (skipped: /usr/bin/chromium is absent; install it with SETUP_BROWSER=1 npm run setup)",
  () => {
    let up: CliProcess;
    let dataDir: string;
    let base: string;
    let repo: string;
    let stackId: string;
    let browser: Browser;
    let page: Page;
    const pageErrors: string[] = [];

    async function shot(name: string): Promise<void> {
      await page.screenshot({
        path: path.join(SHOTS, `${name}.png`),
        fullPage: true,
      });
    }

    async function runState(state: string, timeout = 120_000): Promise<void> {
      await page
        .getByTestId("run-state")
        .locator(`[data-state="${state}"]`)
        .waitFor({ timeout });
    }

    beforeAll(async () => {
      ensureWebBuilt();
      await mkdir(SHOTS, { recursive: true });
      repo = await mkdtemp(path.join(os.tmpdir(), "stackyard-policies-repo-"));
      git(repo, "init", "-q", "-b", "main");
      await writeFile(path.join(repo, "main.tf"), MAIN_TF);
      git(repo, "add", ".");
      git(repo, "commit", "-q", "-m", "greeting");
      // Poll raw git often, so the stack's first-poll event shows up quickly. This
      // file runs in its own process (vitest forks), so no other test sees it.
      process.env.STACKYARD_VCS_POLL_INTERVAL_SECONDS = "2";
      ({ up, base, dataDir } = await startUp("stackyard-web-policies-"));
      const client = await adminClient(base, dataDir);
      const created = await client.request<{ stackCreate: { id: string } }>(
        STACK_CREATE,
        {
          input: {
            name: "Greeting",
            repository: repo,
            branch: "main",
            labels: ["web"],
            autodeploy: true,
            autoretry: false,
            administrative: false,
            provider: "GIT",
            vendorConfig: {
              terraform: { workflowTool: "OPEN_TOFU", version: null },
            },
          },
        },
      );
      stackId = created.stackCreate.id;
      browser = await launchBrowser();
      page = await newPage(browser, pageErrors);
      await signIn(page, base, await adminKey(dataDir));
    }, 240_000);

    afterEach(async (ctx) => {
      if (ctx.task.result?.state === "fail" && page) {
        await shot("policies-failure").catch(() => undefined);
        console.error(`page errors:\n${pageErrors.join("\n") || "(none)"}`);
      }
    });

    afterAll(async () => {
      await browser?.close();
      await stopUp(up);
    });

    it("refuses a bad plan policy in place, then warns on a run of an autodeploy stack", async () => {
      await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name: "Policies" })
        .click();
      await page.getByRole("heading", { name: "Policies" }).waitFor();
      await page.getByText("No policies yet").waitFor();
      await page.getByRole("button", { name: "New policy" }).click();
      await page.getByLabel("Name").fill("Greeting review");
      expect(await page.getByLabel("Type").inputValue()).toBe("PLAN");
      const body = page.getByLabel("Body (Rego)");

      // A disabled built-in: the error names it and its line, in place.
      await body.fill(DISABLED_BUILTIN);
      await page.getByRole("button", { name: "Create policy" }).click();
      const problems = page.getByTestId("policy-problems");
      await problems.waitFor();
      expect(await problems.textContent()).toMatch(/Line 5.*time\.now_ns/);

      // A syntax error: its line is listed, marked in the gutter, and a click on it
      // moves the caret there.
      await body.fill(SYNTAX_ERROR);
      await page.getByRole("button", { name: "Create policy" }).click();
      await expect
        .poll(() => problems.textContent())
        .not.toMatch(/time\.now_ns/);
      const located = problems.getByRole("button", { name: /^Line \d+/ });
      const label = (await located.first().textContent()) ?? "";
      const line = Number(/^Line (\d+)/.exec(label)?.[1]);
      expect(line).toBeGreaterThanOrEqual(7);
      expect(line).toBeLessThanOrEqual(8);
      expect(
        await page.locator(".rego-gutter .bad-line").first().textContent(),
      ).toBe(String(line));
      expect(page.url()).toBe(`${base}/policies`);
      await shot("policies-01-syntax-error");
      await located.first().click();
      // (Browser code as a string: this file is type-checked without the DOM lib.)
      const caretLine = await page.evaluate<number>(
        `(() => { const el = document.activeElement; return el.value.slice(0, el.selectionStart).split("\\n").length; })()`,
      );
      expect(caretLine).toBe(line);

      // Fixed: saved as a warn policy, and the page of the new policy opens.
      await body.fill(WARN_POLICY);
      await page.getByRole("button", { name: "Create policy" }).click();
      await page.waitForURL(/\/policy\/[^/]+$/);
      const policyUrl = page.url();
      await page.getByRole("heading", { name: "Greeting review" }).waitFor();
      expect(await page.getByTestId("policy-type").textContent()).toBe("Plan");

      // Editing keeps the type and saves in place.
      await page.getByRole("button", { name: "Edit" }).click();
      expect(await page.getByLabel("Type").isDisabled()).toBe(true);
      await page
        .getByLabel("Description (optional)")
        .fill("Flags every change for a second look");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Flags every change for a second look").waitFor();
      await page.getByTestId("policy-body").waitFor();

      // The simulator evaluates the saved body against a JSON input.
      const input = page.getByLabel("Input (JSON)");
      await input.fill("{ not json");
      await page.getByRole("button", { name: "Simulate" }).click();
      await page.getByText("The input is not valid JSON").waitFor();
      await input.fill(
        JSON.stringify({
          terraform: {
            resource_changes: [
              { address: "terraform_data.x", change: { actions: ["create"] } },
            ],
          },
        }),
      );
      await page.getByRole("button", { name: "Simulate" }).click();
      const result = page.getByTestId("simulate-result");
      await result.waitFor();
      expect(await result.textContent()).toContain(
        "terraform_data.x needs a second look",
      );
      await shot("policies-02-simulate");

      // The stack shows why the raw git poller ran nothing yet, and takes the policy.
      await page.goto(`${base}/stack/${stackId}`);
      const events = page.getByTestId("stack-vcs-events");
      await events.getByText(/first poll of branch main/).waitFor({
        timeout: 60_000,
      });
      expect(
        await events.locator('li[data-outcome="IGNORED"]').count(),
      ).toBeGreaterThanOrEqual(1);
      await page.getByLabel("Policy", { exact: true }).selectOption({
        label: "Greeting review (Plan)",
      });
      await page.getByRole("button", { name: "Attach policy" }).click();
      const attached = page.getByTestId("stack-policies");
      await attached.getByRole("link", { name: "Greeting review" }).waitFor();
      await shot("policies-03-stack-attached");

      // Autodeploy, but the warning keeps the run at UNCONFIRMED, and says why.
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/run\/[^/]+$/);
      await runState("UNCONFIRMED", 180_000);
      const decisions = page.getByTestId("policy-decisions");
      await decisions.waitFor();
      expect(await decisions.textContent()).toContain(
        "terraform_data.greeting needs a second look",
      );
      expect(await decisions.textContent()).toContain("Plan policy warning");
      await shot("policies-04-run-warned");
      await page.getByRole("button", { name: "Discard" }).click();
      await runState("DISCARDED");

      // The evaluation was sampled: the policy page lists it with its input.
      await page.goto(policyUrl);
      const samples = page.getByTestId("policy-samples");
      await samples.waitFor();
      await samples.getByRole("button").first().click();
      await samples
        .getByText(/resource_changes/)
        .first()
        .waitFor();
      await shot("policies-05-samples");
    }, 420_000);

    it("holds a run until it is approved on the run page", async () => {
      // An approval policy that attaches itself to stacks labelled `web`.
      await page.goto(`${base}/policies`);
      await page.getByRole("button", { name: "New policy" }).click();
      await page.getByLabel("Name").fill("One approval");
      await page.getByLabel("Type").selectOption("APPROVAL");
      await page.getByLabel("Labels (optional)").fill("autoattach:web");
      await page.getByLabel("Body (Rego)").fill(APPROVAL_POLICY);
      await page.getByRole("button", { name: "Create policy" }).click();
      await page.waitForURL(/\/policy\/[^/]+$/);
      await page.getByRole("heading", { name: "One approval" }).waitFor();
      await page.goto(`${base}/policies`);
      const list = page.getByTestId("policies");
      await list.getByRole("link", { name: "One approval" }).waitFor();
      const row = list.locator("tr", {
        has: page.getByRole("link", { name: "One approval" }),
      });
      expect(await row.textContent()).toContain("Approval");
      expect(await row.textContent()).toContain("autoattach:web");
      await shot("policies-06-list");

      // The stack lists it as auto-attached (no detach); the plan policy is detached.
      await page.goto(`${base}/stack/${stackId}`);
      const attached = page.getByTestId("stack-policies");
      const auto = attached.locator("tr", {
        has: page.getByRole("link", { name: "One approval" }),
      });
      await auto.getByText("auto", { exact: true }).waitFor();
      expect(await auto.getByRole("button", { name: /Detach/ }).count()).toBe(
        0,
      );
      await attached
        .getByRole("button", { name: "Detach Greeting review" })
        .click();
      await attached
        .getByRole("link", { name: "Greeting review" })
        .waitFor({ state: "detached" });

      // The run waits in QUEUED for an approval, then runs to the end (autodeploy).
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/run\/[^/]+$/);
      await runState("QUEUED");
      const panel = page.getByTestId("run-policies");
      await panel.getByText("waits for approval before it starts").waitFor();
      await shot("policies-07-run-awaiting-approval");
      await page.getByLabel("Review note (optional)").fill("Looks right");
      await panel.getByRole("button", { name: "Approve" }).click();
      const reviews = page.getByTestId("run-reviews");
      await reviews.getByText("approved").waitFor();
      expect(await reviews.textContent()).toContain("Looks right");
      await runState("FINISHED", 240_000);
      await expect
        .poll(() => panel.getByRole("button", { name: "Approve" }).count())
        .toBe(0);
      await shot("policies-08-run-approved-finished");
    }, 420_000);

    it("creates and edits VCS integrations with write-only secrets and a copyable webhook URL", async () => {
      await page
        .getByRole("navigation", { name: "Main" })
        .getByRole("link", { name: "VCS" })
        .click();
      await page.getByRole("heading", { name: "VCS integrations" }).waitFor();
      await page.getByRole("button", { name: "New integration" }).click();
      await page.getByLabel("Provider", { exact: true }).selectOption("GITLAB");
      await page.getByLabel("Name", { exact: true }).fill("gitlab-main");
      // Missing token and secret: refused in place, field by field.
      await page.getByRole("button", { name: "Create integration" }).click();
      await page.getByText("Enter a GitLab access token").waitFor();
      await page.getByText("Enter the webhook secret").waitFor();
      await shot("policies-09-integration-errors");
      await page.getByLabel("Access token").fill("glpat-very-secret-token");
      await page.getByLabel("Webhook secret").fill("hook-secret-value");
      await page.getByRole("button", { name: "Create integration" }).click();
      const created = page.getByTestId("vcs-created");
      await created.waitFor();
      const url = await created.locator("pre").textContent();
      expect(url).toMatch(/\/webhooks\/gitlab-main$/);
      await created.getByRole("button", { name: "Copy" }).click();
      await created.getByText(/^(Copied\.|Selected: press Ctrl\+C)/).waitFor();
      const card = page.getByRole("region", {
        name: "Integration gitlab-main",
      });
      expect(await card.textContent()).toContain("set (write-only)");
      const html = await page.content();
      expect(html).not.toContain("glpat-very-secret-token");
      expect(html).not.toContain("hook-secret-value");

      // Edit: the form starts from the stored settings with the secrets empty; a new
      // description is saved and a typed webhook secret replaces the stored one, which
      // the provider must then send (the old one is refused).
      await card.getByRole("button", { name: "Edit gitlab-main" }).click();
      const edit = page.getByRole("form", { name: "Edit gitlab-main" });
      const description = edit.getByLabel("Description (optional)");
      await description.waitFor();
      const focusedId = () =>
        page.evaluate<string | undefined>("document.activeElement?.id");
      expect(await focusedId()).toBe(await description.getAttribute("id"));
      expect(await edit.getByLabel("Webhook secret").inputValue()).toBe("");
      expect(await edit.getByLabel("Access token").inputValue()).toBe("");
      await edit
        .getByText("Leave empty to keep the current value.", { exact: false })
        .first()
        .waitFor();
      // A bad URL is refused by the server, in place under its field.
      await edit.getByLabel("API URL (optional)").fill("not a url");
      await edit.getByRole("button", { name: "Save changes" }).click();
      await edit.getByText("Must be an http(s) URL").waitFor();
      await edit.getByText("Check the fields marked above.").waitFor();
      expect(
        await edit
          .getByLabel("API URL (optional)")
          .getAttribute("aria-invalid"),
      ).toBe("true");
      await edit.getByLabel("API URL (optional)").fill("");
      await description.fill("Main GitLab group");
      await edit.getByLabel("Webhook secret").fill("rotated-hook-secret");
      await shot("policies-10-integration-edit");
      await edit.getByRole("button", { name: "Save changes" }).click();
      await card.getByText("Saved.").waitFor();
      expect(await card.textContent()).toContain("Main GitLab group");
      // Focus returns to the card's Edit button for keyboard users.
      await expect
        .poll(() =>
          page.evaluate<string | null | undefined>(
            "document.activeElement?.getAttribute('aria-label')",
          ),
        )
        .toBe("Edit gitlab-main");
      const after = await page.content();
      for (const secret of [
        "glpat-very-secret-token",
        "hook-secret-value",
        "rotated-hook-secret",
      ])
        expect(after).not.toContain(secret);
      const hook = (token: string) =>
        fetch(url ?? "", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-gitlab-token": token,
            "x-gitlab-event": "System Hook",
          },
          body: JSON.stringify({ object_kind: "ping" }),
        }).then((r) => r.status);
      expect(await hook("hook-secret-value")).toBe(401);
      expect(await hook("rotated-hook-secret")).not.toBe(401);
      // Escape closes the form without saving.
      await card.getByRole("button", { name: "Edit gitlab-main" }).click();
      await edit.getByLabel("Description (optional)").fill("discarded");
      await page.keyboard.press("Escape");
      await card.getByRole("button", { name: "Edit gitlab-main" }).waitFor();
      expect(await card.textContent()).toContain("Main GitLab group");

      // Raw git needs nothing but a name, and has no webhook.
      await page.getByRole("button", { name: "New integration" }).click();
      await page
        .getByLabel("Provider", { exact: true })
        .selectOption("RAW_GIT");
      await page.getByLabel("Name", { exact: true }).fill("mirror");
      await page.getByRole("button", { name: "Create integration" }).click();
      await page
        .getByRole("region", { name: "Integration mirror" })
        .getByText("Polled: no webhook.")
        .waitFor();
      await shot("policies-11-integrations");

      // Dark theme and phone width stay readable.
      await page.getByRole("button", { name: /^Theme:/ }).click();
      await page.getByRole("button", { name: /^Theme:/ }).click();
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${base}/stack/${stackId}`);
      await page.getByTestId("stack-policies").waitFor();
      await shot("policies-12-stack-dark-phone");
      expect(pageErrors).toEqual([]);
    }, 240_000);
  },
);
