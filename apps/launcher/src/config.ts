import { createPrivateKey, randomBytes } from "node:crypto";
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
  /** STACKYARD_POOL_PRIVATE_KEY / SPACELIFT_POOL_PRIVATE_KEY: base64 PEM; optional for now. */
  poolPrivateKeyPem: string | null;
  /** STACKYARD_WORKER_ID: stable id for this worker; default a fresh `wkr_<ulid>` per start. */
  workerId: string;
  /** STACKYARD_LAUNCHER_WORK_DIR: where runs are checked out; default ./.stackyard/launcher. */
  workDir: string;
  /** STACKYARD_BIN_DIR: OpenTofu/Terraform binaries; default <workDir>/bin. */
  binDir: string;
  /** STACKYARD_BROKER_CA_FILE: PEM CA for a broker whose TLS certificate is privately signed. */
  brokerCaFile: string | null;
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
  privateKey: z.string().optional(),
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

/** Parses the environment once; throws LauncherConfigError listing every problem and its fix. */
export function loadLauncherConfig(
  env: Env = process.env,
  cwd = process.cwd(),
): LauncherConfig {
  const parsed = envSchema.safeParse({
    token: either(env, "TOKEN"),
    privateKey: either(env, "POOL_PRIVATE_KEY"),
    workerId: env.STACKYARD_WORKER_ID || undefined,
    workDir: env.STACKYARD_LAUNCHER_WORK_DIR || undefined,
    binDir: env.STACKYARD_BIN_DIR || undefined,
    brokerCaFile: env.STACKYARD_BROKER_CA_FILE || undefined,
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

  let poolPrivateKeyPem: string | null = null;
  if (parsed.success && parsed.data.privateKey !== undefined) {
    const pem = Buffer.from(parsed.data.privateKey.trim(), "base64").toString(
      "utf8",
    );
    try {
      createPrivateKey(pem);
      poolPrivateKeyPem = pem;
    } catch {
      problems.push(
        "STACKYARD_POOL_PRIVATE_KEY is not a base64-encoded PEM private key: set it to the output of `base64 -w0 < pool.key`",
      );
    }
  }

  if (problems.length > 0 || !parsed.success || !token)
    throw new LauncherConfigError(problems);

  const workDir = path.resolve(
    cwd,
    parsed.data.workDir ?? path.join(".stackyard", "launcher"),
  );
  return Object.freeze({
    token,
    poolPrivateKeyPem,
    workerId: parsed.data.workerId ?? newWorkerId(),
    workDir,
    binDir: path.resolve(cwd, parsed.data.binDir ?? path.join(workDir, "bin")),
    brokerCaFile: parsed.data.brokerCaFile
      ? path.resolve(cwd, parsed.data.brokerCaFile)
      : null,
    metadata: readWorkerMetadata(env),
    log: { level: parsed.data.logLevel, format: parsed.data.logFormat },
  });
}
