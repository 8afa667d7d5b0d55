import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import {
  REPO_ROOT,
  freePort,
  runCli,
  waitFor,
  type CliProcess,
} from "./harness.ts";

// Shared setup of the browser scenarios: Debian's Chromium (/usr/bin/chromium; installed
// by `SETUP_BROWSER=1 npm run setup`), a built web UI and a fresh `stackyard up`.
export const CHROMIUM = "/usr/bin/chromium";
export const HAS_CHROMIUM = existsSync(CHROMIUM);
export const SHOTS = path.join(REPO_ROOT, "test-results", "screenshots");
const WEB = path.join(REPO_ROOT, "apps", "web");

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  });
}

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(p))
    if (e !== "node_modules" && e !== "dist")
      newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

/** Builds apps/web/dist unless it is newer than every source it is made from. */
export function ensureWebBuilt(): void {
  const index = path.join(WEB, "dist", "index.html");
  const sources = [
    path.join(WEB, "src"),
    path.join(WEB, "index.html"),
    path.join(WEB, "vite.config.ts"),
    path.join(REPO_ROOT, "packages", "api-client", "src"),
  ];
  const built = existsSync(index) ? statSync(index).mtimeMs : 0;
  if (sources.every((s) => newestMtime(s) < built)) return;
  execFileSync("npm", ["run", "build", "-w", "@stackyard/web"], {
    cwd: REPO_ROOT,
    stdio: "pipe",
  });
}

/** Starts `stackyard up` on free ports in a fresh data directory; resolves once ready. */
export async function startUp(
  prefix: string,
): Promise<{ up: CliProcess; base: string; dataDir: string }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const up = runCli(
    [
      "up",
      "--data-dir",
      dataDir,
      "--port",
      String(port),
      "--mqtt-port",
      String(await freePort()),
    ],
    {
      DATABASE_URL: undefined,
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      STACKYARD_LOG_LEVEL: "warn",
    },
  );
  await waitFor(
    "/readyz",
    async () => (await fetch(`${base}/readyz`)).status === 200,
    120_000,
  );
  await waitFor("the banner", async () =>
    up.output().includes("Stackyard is running at"),
  );
  return { up, base, dataDir };
}

/** Stops `stackyard up` the way a person would (Ctrl+C) and waits for it. */
export async function stopUp(up: CliProcess | undefined): Promise<void> {
  if (up && up.child.exitCode === null) {
    up.child.kill("SIGINT");
    await up.exited;
  }
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
}

/** A 1280 px page whose uncaught errors and console errors land in `errors`. */
export async function newPage(
  browser: Browser,
  errors: string[],
): Promise<Page> {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 900 },
  });
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  return page;
}

/** The admin API key `stackyard up` wrote into its data directory. */
export async function adminKey(
  dataDir: string,
): Promise<{ id: string; secret: string }> {
  return JSON.parse(
    await readFile(path.join(dataDir, "admin-api-key.json"), "utf8"),
  ) as { id: string; secret: string };
}

/** Signs in through the login form and waits for the stacks page. */
export async function signIn(
  page: Page,
  base: string,
  key: { id: string; secret: string },
): Promise<void> {
  await page.goto(`${base}/stacks`);
  await page.getByLabel("API key id").fill(key.id);
  await page.getByLabel("API key secret").fill(key.secret);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { name: "Stacks" }).waitFor();
}
