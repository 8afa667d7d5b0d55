import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

// The real Spacelift clients, built from their source by `scripts/setup.sh` (SETUP_CLIENTS=1,
// which `npm run test:all` sets) with ../shared/clients/build.sh into a cache outside the
// repository. The suites skip, saying why, when the binaries are absent.

const cacheHome =
  process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");

/** Where build.sh put `spacectl` and `terraform-provider-spacelift`. */
export const CLIENTS_BIN =
  process.env.SPACELIFT_CLIENTS_BIN ??
  path.join(
    process.env.CLIENTS_CACHE ?? path.join(cacheHome, "spacelift-clients"),
    "bin",
  );
export const SPACECTL = path.join(CLIENTS_BIN, "spacectl");
export const PROVIDER = path.join(CLIENTS_BIN, "terraform-provider-spacelift");

/** OpenTofu from the setup script's toolchain cache. */
export const TOFU = path.join(
  process.env.STACKYARD_TOOLCHAIN_DIR ??
    path.join(cacheHome, "stackyard", "toolchain"),
  "bin",
  "tofu",
);

/** Why a suite cannot run here, or null when the binaries it needs exist. */
export function missingClients(needTofu: boolean): string | null {
  const missing = [SPACECTL, PROVIDER, ...(needTofu ? [TOFU] : [])].filter(
    (f) => !existsSync(f),
  );
  if (missing.length === 0) return null;
  return `${missing.join(", ")} not built`;
}

export interface Exec {
  code: number;
  out: string;
}

/** Runs a binary with a bounded time; output is stdout then stderr, colours off. */
export function exec(
  file: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", ...opts.env },
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code =
          err && typeof (err as { code?: unknown }).code === "number"
            ? ((err as { code: number }).code ?? 1)
            : err
              ? 1
              : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

/** spacectl with an API key from the environment (SPACELIFT_API_KEY_*), in its own HOME. */
export function spacectlAs(credentials: {
  endpoint: string;
  keyId: string;
  keySecret: string;
  home: string;
}) {
  return (args: string[], extraEnv: Record<string, string> = {}) =>
    exec(SPACECTL, args, {
      env: {
        HOME: credentials.home,
        SPACELIFT_API_KEY_ENDPOINT: credentials.endpoint,
        SPACELIFT_API_KEY_ID: credentials.keyId,
        SPACELIFT_API_KEY_SECRET: credentials.keySecret,
        ...extraEnv,
      },
      timeoutMs: 240_000,
    });
}

/**
 * A directory for one OpenTofu configuration driving the built provider through
 * `dev_overrides` (no registry, no `tofu init`), with the API key in the environment.
 */
export async function tofuWorkspace(credentials: {
  endpoint: string;
  keyId: string;
  keySecret: string;
}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "stackyard-provider-"));
  const cliConfig = path.join(dir, "cli.tfrc");
  await writeFile(
    cliConfig,
    `provider_installation {
  dev_overrides {
    "spacelift-io/spacelift" = "${CLIENTS_BIN}"
  }
  direct {}
}
`,
  );
  const env = {
    HOME: dir,
    TF_CLI_CONFIG_FILE: cliConfig,
    TF_IN_AUTOMATION: "1",
    SPACELIFT_API_KEY_ENDPOINT: credentials.endpoint,
    SPACELIFT_API_KEY_ID: credentials.keyId,
    SPACELIFT_API_KEY_SECRET: credentials.keySecret,
  };
  const tofu = (...args: string[]) =>
    exec(TOFU, [...args, "-no-color", "-input=false"], {
      env,
      cwd: dir,
      timeoutMs: 300_000,
    });
  return {
    dir,
    /** Replaces the configuration (one main.tf plus the provider block). */
    async write(config: string): Promise<void> {
      await writeFile(
        path.join(dir, "main.tf"),
        `terraform {
  required_providers {
    spacelift = { source = "spacelift-io/spacelift" }
  }
}
provider "spacelift" {}
${config}`,
      );
    },
    apply: () => tofu("apply", "-auto-approve"),
    /** `plan -detailed-exitcode`: 0 no changes, 2 changes, 1 error. */
    plan: () => tofu("plan", "-detailed-exitcode"),
    destroy: () => tofu("destroy", "-auto-approve"),
    output: async (): Promise<Record<string, { value: unknown }>> => {
      const r = await exec(TOFU, ["output", "-json"], { env, cwd: dir });
      return JSON.parse(r.out) as Record<string, { value: unknown }>;
    },
  };
}
