/**
 * The one gate for tests that need a tool from outside npm (OpenTofu, OPA, bubblewrap,
 * MinIO, Chromium, Mosquitto, the real Spacelift clients, ...).
 *
 * Outside CI a missing tool skips the tests that need it, with a warning, so a laptop
 * without Chromium still runs everything else. Under `CI=true` (`npm run test:all` sets
 * it) a missing tool fails the run instead, naming the tool and the command that
 * provides it: a CI run never passes by skipping.
 */

export function inCi(): boolean {
  const ci = process.env.CI?.toLowerCase();
  return ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
}

export class MissingToolError extends Error {
  override readonly name = "MissingToolError";
}

/**
 * Returns true when the tests needing `tool` must be skipped: `missing` says what is
 * absent (null when the tool is there), `setup` is the command that provides it. Throws
 * a MissingToolError instead under CI. Use it as `describe.skipIf(skipWithout(...))`, or
 * in a test body as `if (skipWithout(...)) return ctx.skip()`.
 */
export function skipWithout(
  tool: string,
  missing: string | null,
  setup: string,
): boolean {
  if (missing === null) return false;
  const message = `${tool} is missing: ${missing}; to provide it: ${setup}`;
  if (inCi())
    throw new MissingToolError(
      `${message} (CI=true: tests needing ${tool} fail instead of skipping)`,
    );
  console.warn(`skipping the tests that need ${tool}: ${message}`);
  return true;
}

/** What provides each tool, for the message of `skipWithout`. */
export const SETUP = {
  toolchain:
    "npm run setup (builds OpenTofu, OPA, MinIO and fake-gcs-server into ~/.cache/stackyard/toolchain/bin), or set STACKYARD_BIN_DIR",
  azurite: "npm ci (azurite is an npm devDependency)",
  bubblewrap:
    "npm run setup (installs Debian's bubblewrap), or apt-get install bubblewrap",
  chromium:
    "SETUP_BROWSER=1 bash scripts/setup.sh (installs Debian's chromium)",
  clients:
    "SETUP_CLIENTS=1 bash scripts/setup.sh (builds spacectl and the Terraform provider from ../shared/clients)",
  mosquitto: "apt-get install mosquitto, and run it on 127.0.0.1:1883",
  mosquittoBinary: "apt-get install mosquitto",
  openssl: "apt-get install openssl",
  prlimit: "apt-get install util-linux",
  pgDump:
    "apt-get install postgresql-client (pg_dump at least as new as the test server)",
} as const;
