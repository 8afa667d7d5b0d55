import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import {
  decodePoolToken,
  isTopicSegment,
  type PoolToken,
} from "@stackyard/protocol";
import { z } from "zod";

/**
 * The launcher's configuration, read once from the environment. Each `STACKYARD_*`
 * variable also answers to its `SPACELIFT_*` name where Spacelift has one, so existing
 * worker deployments keep working; the Stackyard name wins when both are set.
 */
export interface LauncherConfig {
  /** STACKYARD_TOKEN / SPACELIFT_TOKEN: the worker pool token (required). */
  token: PoolToken;
  /**
   * STACKYARD_POOL_PRIVATE_KEY / SPACELIFT_POOL_PRIVATE_KEY: the pool's RSA private key as
   * base64 PEM (required). It opens the secrets of `run.assign` and the planned workspace.
   */
  poolPrivateKeyPem: string;
  /** Derived from the private key: seals the planned workspace for the apply phase. */
  poolPublicKeyPem: string;
  /** STACKYARD_WORKER_ID: stable id for this worker; default a fresh `wkr_<ulid>` per start. */
  workerId: string;
  /** STACKYARD_LAUNCHER_WORK_DIR: where runs are checked out; default ./.stackyard/launcher. */
  workDir: string;
  /**
   * STACKYARD_BIN_DIR: OpenTofu/Terraform binaries; default ~/.cache/stackyard/toolchain/bin
   * when it exists (scripts/setup-toolchain.sh), else null: found on `searchPath` per run.
   */
  binDir: string | null;
  /** PATH: where tools are looked up when `binDir` is null. */
  searchPath: string;
  /**
   * STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS: on SIGTERM/SIGINT, how long the current run
   * may go on before it is stopped and reported as failed; default 60.
   */
  shutdownGraceMs: number;
  /**
   * STACKYARD_UNSANDBOXED_RUNS (true | false, default false): when bubblewrap is missing or
   * cannot create namespaces, execute runs without a sandbox instead of failing them.
   */
  unsandboxedRuns: boolean;
  /**
   * STACKYARD_SANDBOX_HIDDEN_PATHS: absolute paths, separated by `:`, that runs must not
   * see even when they lie under a directory the sandbox mounts (/usr, /etc, the bin
   * dir). `stackyard up` sets it to its data dir.
   */
  sandboxHiddenPaths: string[];
  /** STACKYARD_BROKER_CA_FILE: PEM CA for a broker whose TLS certificate is privately signed. */
  brokerCaFile: string | null;
  /**
   * STACKYARD_ALLOW_OPEN_BROKER (true | false, default false): connect although the broker
   * lets this worker subscribe to another pool's topics (no per-pool ACLs), with a
   * warning, instead of refusing to start. For development brokers only.
   */
  allowOpenBroker: boolean;
  /** STACKYARD_METADATA_<key> / SPACELIFT_METADATA_<key>: worker tags, key lower-cased. */
  metadata: Record<string, string>;
  /** STACKYARD_LOG_LEVEL (default info) and STACKYARD_LOG_FORMAT (auto | json | pretty). */
  log: { level: string; format: "auto" | "json" | "pretty" };
}

export class LauncherConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `invalid launcher configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "LauncherConfigError";
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = [
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
] as const;

const envSchema = z.object({
  token: z.string({
    error:
      "STACKYARD_TOKEN is not set: set it to the worker pool token printed when the pool was created (SPACELIFT_TOKEN also works)",
  }),
  privateKey: z.string({
    error:
      "STACKYARD_POOL_PRIVATE_KEY is not set: set it to the pool's private key as base64 PEM, " +
      "the key whose CSR created the pool: `base64 -w0 < pool.key` (SPACELIFT_POOL_PRIVATE_KEY also works)",
  }),
  workerId: z
    .string()
    .refine(
      isTopicSegment,
      "STACKYARD_WORKER_ID must be 1-128 of A-Z a-z 0-9 _ . - (it becomes an MQTT topic level)",
    )
    .optional(),
  workDir: z.string().min(1).optional(),
  binDir: z.string().min(1).optional(),
  brokerCaFile: z.string().min(1).optional(),
  shutdownGraceSeconds: z.coerce
    .number({
      error:
        "STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS must be a number of seconds (0 or more)",
    })
    .nonnegative(
      "STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS must be a number of seconds (0 or more)",
    )
    .default(60),
  unsandboxedRuns: z
    .enum(["true", "false"], {
      error:
        "STACKYARD_UNSANDBOXED_RUNS must be true or false (true lets runs execute without a sandbox when bubblewrap is unavailable)",
    })
    .default("false"),
  allowOpenBroker: z
    .enum(["true", "false"], {
      error:
        "STACKYARD_ALLOW_OPEN_BROKER must be true or false (true connects to a broker without per-pool ACLs)",
    })
    .default("false"),
  sandboxHiddenPaths: z
    .string()
    .refine(
      (v) => v.split(":").every((p) => p === "" || path.isAbsolute(p)),
      "STACKYARD_SANDBOX_HIDDEN_PATHS must be absolute paths separated by ':'",
    )
    .default(""),
  logLevel: z
    .enum(LOG_LEVELS, {
      error: `STACKYARD_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`,
    })
    .default("info"),
  logFormat: z
    .enum(["auto", "json", "pretty"], {
      error: "STACKYARD_LOG_FORMAT must be auto, json or pretty",
    })
    .default("auto"),
});

/** Reads `STACKYARD_<name>`, falling back to `SPACELIFT_<name>`; empty counts as unset. */
function either(env: Env, name: string): string | undefined {
  const value = env[`STACKYARD_${name}`] || env[`SPACELIFT_${name}`];
  return value === "" ? undefined : value;
}

/** Worker tags from `STACKYARD_METADATA_*` and `SPACELIFT_METADATA_*`; Stackyard's win on clashes. */
export function readWorkerMetadata(env: Env): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const prefix of ["SPACELIFT_METADATA_", "STACKYARD_METADATA_"]) {
    for (const [name, value] of Object.entries(env)) {
      if (!name.startsWith(prefix) || value === undefined) continue;
      const key = name.slice(prefix.length).toLowerCase();
      if (key) metadata[key] = value;
    }
  }
  return metadata;
}

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/** `wkr_` + a lower-case ULID: sorts by start time, unique without coordination. */
export function newWorkerId(now = Date.now()): string {
  let time = "";
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32))
    time = CROCKFORD.charAt(t % 32) + time;
  let random = "";
  for (const byte of randomBytes(16)) random += CROCKFORD.charAt(byte % 32);
  return `wkr_${time}${random}`;
}

const PRIVATE_KEY_FIX =
  "set it to the output of `base64 -w0 < pool.key` (the RSA key whose CSR created the pool)";

/** The pool key pair from the variable's value: base64 PEM (Spacelift's form) or plain PEM. */
function readPoolKey(
  value: string,
): { privateKeyPem: string; publicKeyPem: string } | string {
  const trimmed = value.trim();
  const pem = trimmed.startsWith("-----BEGIN")
    ? trimmed
    : Buffer.from(trimmed, "base64").toString("utf8");
  let key;
  try {
    key = createPrivateKey(pem);
  } catch {
    return `STACKYARD_POOL_PRIVATE_KEY is not a base64-encoded PEM private key: ${PRIVATE_KEY_FIX}`;
  }
  if (key.asymmetricKeyType !== "rsa")
    return `STACKYARD_POOL_PRIVATE_KEY is a ${key.asymmetricKeyType ?? "non-RSA"} key, not RSA: ${PRIVATE_KEY_FIX}`;
  return {
    privateKeyPem: pem,
    publicKeyPem: createPublicKey(key)
      .export({ type: "spki", format: "pem" })
      .toString(),
  };
}

/** Parses the environment once; throws LauncherConfigError listing every problem and its fix. */
export function loadLauncherConfig(
  env: Env = process.env,
  cwd = process.cwd(),
  home = homedir(),
): LauncherConfig {
  const parsed = envSchema.safeParse({
    token: either(env, "TOKEN"),
    privateKey: either(env, "POOL_PRIVATE_KEY"),
    workerId: env.STACKYARD_WORKER_ID || undefined,
    workDir: env.STACKYARD_LAUNCHER_WORK_DIR || undefined,
    binDir: env.STACKYARD_BIN_DIR || undefined,
    brokerCaFile: env.STACKYARD_BROKER_CA_FILE || undefined,
    shutdownGraceSeconds:
      env.STACKYARD_LAUNCHER_SHUTDOWN_GRACE_SECONDS || undefined,
    unsandboxedRuns: env.STACKYARD_UNSANDBOXED_RUNS || undefined,
    allowOpenBroker: env.STACKYARD_ALLOW_OPEN_BROKER || undefined,
    sandboxHiddenPaths: env.STACKYARD_SANDBOX_HIDDEN_PATHS || undefined,
    logLevel: env.STACKYARD_LOG_LEVEL || undefined,
    logFormat: env.STACKYARD_LOG_FORMAT || undefined,
  });
  const problems: string[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => i.message);

  let token: PoolToken | null = null;
  if (parsed.success) {
    try {
      token = decodePoolToken(parsed.data.token);
    } catch (err) {
      problems.push(`STACKYARD_TOKEN: ${(err as Error).message}`);
    }
  }

  let poolKey: { privateKeyPem: string; publicKeyPem: string } | null = null;
  const rawKey = either(env, "POOL_PRIVATE_KEY");
  if (rawKey !== undefined) {
    const key = readPoolKey(rawKey);
    if (typeof key === "string") problems.push(key);
    else poolKey = key;
  }

  if (problems.length > 0 || !parsed.success || !token || !poolKey)
    throw new LauncherConfigError(problems);

  const toolchainBin = path.join(
    home,
    ".cache",
    "stackyard",
    "toolchain",
    "bin",
  );
  const workDir = path.resolve(
    cwd,
    parsed.data.workDir ?? path.join(".stackyard", "launcher"),
  );
  return Object.freeze({
    token,
    poolPrivateKeyPem: poolKey.privateKeyPem,
    poolPublicKeyPem: poolKey.publicKeyPem,
    workerId: parsed.data.workerId ?? newWorkerId(),
    workDir,
    binDir: parsed.data.binDir
      ? path.resolve(cwd, parsed.data.binDir)
      : existsSync(toolchainBin)
        ? toolchainBin
        : null,
    searchPath: env.PATH ?? "",
    shutdownGraceMs: parsed.data.shutdownGraceSeconds * 1000,
    unsandboxedRuns: parsed.data.unsandboxedRuns === "true",
    sandboxHiddenPaths: parsed.data.sandboxHiddenPaths
      .split(":")
      .filter(Boolean)
      .map((p) => path.normalize(p)),
    brokerCaFile: parsed.data.brokerCaFile
      ? path.resolve(cwd, parsed.data.brokerCaFile)
      : null,
    allowOpenBroker: parsed.data.allowOpenBroker === "true",
    metadata: readWorkerMetadata(env),
    log: { level: parsed.data.logLevel, format: parsed.data.logFormat },
  });
}
