import { createPrivateKey } from "node:crypto";
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";

export const BUCKET_NAMES = [
  "runLogs",
  "states",
  "workspaces",
  "metadata",
  "policyInputs",
  "uploads",
  "userUploadedWorkspaces",
  "deliveries",
  "largeQueueMessages",
  "modules",
] as const;
export type BucketName = (typeof BUCKET_NAMES)[number];
export type ExpiringBucketName = Exclude<BucketName, "states" | "modules">;

export const ROLES = ["api", "drain", "scheduler"] as const;
export type Role = (typeof ROLES)[number];
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export const SQS_QUEUES = [
  "asyncUrl",
  "asyncFifoUrl",
  "cronjobsUrl",
  "dlqUrl",
  "dlqFifoUrl",
  "eventsInboxUrl",
  "iotUrl",
  "webhooksUrl",
] as const;
type SqsQueue = (typeof SQS_QUEUES)[number];

export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export interface SsoConfig {
  type: "OIDC" | "SAML";
  /** Email of the user who becomes the first SSO admin (`sso_config.admin_login`). */
  adminLogin: string | null;
  oidc?: { clientId: string; clientCredentials: string; identityProviderHost: string };
  /** `dynamic` true: `metadata` is the IdP metadata URL; false: it is the metadata XML itself. */
  saml?: { metadata: string; dynamic: boolean; nameIdFormat: "TRANSIENT" | "EMAIL_ADDRESS" | "PERMANENT" };
}

/**
 * The validated server configuration. Every path is absolute, every URL is normalised
 * (no trailing slash), and every cross-field rule in config-rules.ts holds.
 * docs/configuration.md lists the variable behind each field.
 */
export interface ConfigData {
  dataDir: string;
  configFile: string | null;
  server: {
    hostname: string;
    port: number;
    bindAddress: string;
    publicUrl: string;
    /** Base URL shown to users for VCS webhooks; may differ from publicUrl (seed `webhooks_endpoint`). */
    webhooksEndpoint: string;
    roles: Role[];
  };
  /** url null: run embedded Postgres in `<dataDir>`. `statement_cache_capacity` is stripped from the url. */
  database: { url: string | null; poolSize: number };
  objectStorage: {
    type: "filesystem" | "aws" | "minio" | "gcp" | "azure";
    directory: string;
    buckets: Record<BucketName, string>;
    expirationDays: Record<ExpiringBucketName, number>;
    /**
     * For minio, endpoint is always a URL (OBJECT_STORAGE_MINIO_USE_SSL picks https or http when
     * the variable holds a bare host:port) and forcePathStyle is true. allowInsecure: skip TLS
     * certificate verification (OBJECT_STORAGE_MINIO_ALLOW_INSECURE).
     */
    s3: {
      region: string | null;
      endpoint: string | null;
      forcePathStyle: boolean;
      accessKeyId: string | null;
      secretAccessKey: string | null;
      allowInsecure: boolean;
    };
    gcs: { projectId: string | null; apiEndpoint: string | null };
    azure: { accountUrl: string | null; connectionString: string | null };
  };
  messageQueue: { type: "postgres" | "sqs"; sqs: Record<SqsQueue, string | null> };
  mqtt: {
    type: "builtin" | "external" | "iotcore";
    /** Port of the builtin broker; unused for external/iotcore. */
    port: number;
    /** What launchers connect to. Builtin default: `mqtt://<hostname>:<port>` (`mqtts://` with TLS). */
    endpoint: string;
    username: string | null;
    password: string | null;
    namespace: string;
    logLevel: string;
    tls: { certFile: string | null; keyFile: string | null };
  };
  encryption: {
    type: "rsa" | "kms";
    /** Base64 of an unencrypted PEM RSA private key (checked to parse); null: generated into dataDir. */
    rsaPrivateKey: string | null;
    kms: { encryptionKeyId: string | null; signingKeyId: string | null; region: string | null };
  };
  admin: { username: string | null; password: string | null };
  sso: SsoConfig | null;
  globalResourceTags: { key: string; value: string }[];
  alerting: { snsTopicArn: string | null };
  automaticallyReportUsageData: boolean;
  log: { level: (typeof LOG_LEVELS)[number]; format: "auto" | "json" | "pretty" };
  toolchain: { binDir: string | null };
  queue: { concurrency: number; pollIntervalMs: number };
  workers: { heartbeatTimeoutSeconds: number };
}

/** Deeply readonly and frozen at runtime. */
export type Config = DeepReadonly<ConfigData>;

// ---- leaf schemas -------------------------------------------------------------------
// Leaves accept both typed config.json values and environment strings, so numbers and
// booleans are coerced from strings here. Messages say what is expected; the caller
// appends where the value came from and what it was.

const integer = (min: number, max: number, unit = "an integer") => {
  const error = `expected ${unit} between ${min} and ${max}`;
  return z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number({ error }).int({ error }).min(min, { error }).max(max, { error }),
  );
};

const boolean = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    const s = v.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(s)) return true;
    if (["false", "0", "no", "off"].includes(s)) return false;
    return v;
  },
  z.boolean({ error: "expected true or false" }),
);

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}` });

const text = z.string({ error: "expected a string" }).min(1, { error: "must not be empty" });

const absolutePath = text.refine((p) => path.isAbsolute(p), { error: "expected a path" });

function parseUrl(value: string, protocols: readonly string[]): URL | null {
  try {
    const url = new URL(value);
    return protocols.includes(url.protocol) ? url : null;
  } catch {
    return null;
  }
}

const withoutTrailingSlash = (url: URL) => url.href.replace(/\/+$/, "");

const httpUrl = text.transform((value, ctx) => {
  const url = parseUrl(value, ["http:", "https:"]);
  if (!url) {
    ctx.addIssue({ code: "custom", message: "expected a URL starting with http:// or https://" });
    return z.NEVER;
  }
  return withoutTrailingSlash(url);
});

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const hostname = text.regex(HOSTNAME, {
  error: "expected a hostname without protocol, port or trailing slash, e.g. stackyard.example.com",
});

const bindAddress = text.refine((v) => isIP(v) !== 0 || HOSTNAME.test(v), {
  error: "expected an IP address (0.0.0.0, ::) or a hostname",
});

/** The seed's `webhooks_endpoint` is a bare host ("webhooks.example.com"); that means https. */
const webhooksEndpoint = z.preprocess(
  (v) => (typeof v === "string" && v !== "" && !v.includes("://") ? `https://${v}` : v),
  httpUrl,
);

const databaseUrl = text.transform((value, ctx) => {
  const url = parseUrl(value, ["postgres:", "postgresql:"]);
  if (!url) {
    ctx.addIssue({
      code: "custom",
      message: "expected a postgres:// URL, e.g. postgres://user:password@db.example.com:5432/stackyard",
    });
    return z.NEVER;
  }
  // Spacelift's examples append ?statement_cache_capacity=0 (a pgx setting). node-postgres
  // has no statement cache to size, so the parameter is dropped rather than passed to libpq.
  if (!url.searchParams.has("statement_cache_capacity")) return value;
  url.searchParams.delete("statement_cache_capacity");
  return url.href;
});

const RSA_HOWTO = "create one with `openssl genrsa 4096 | base64 -w0`";
const rsaPrivateKey = text.transform((value, ctx) => {
  const trimmed = value.trim();
  // A raw PEM is accepted too (handy with ENCRYPTION_RSA_PRIVATE_KEY_FILE); the config always holds base64.
  let pem = trimmed;
  let base64 = Buffer.from(trimmed).toString("base64");
  if (!trimmed.startsWith("-----BEGIN")) {
    base64 = trimmed.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      ctx.addIssue({ code: "custom", message: `expected base64 of a PEM RSA private key (this is not base64); ${RSA_HOWTO}` });
      return z.NEVER;
    }
    pem = Buffer.from(base64, "base64").toString("utf8");
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "rsa") {
      ctx.addIssue({ code: "custom", message: `expected an RSA key, got a ${key.asymmetricKeyType ?? "unknown"} key; ${RSA_HOWTO}` });
      return z.NEVER;
    }
  } catch {
    ctx.addIssue({
      code: "custom",
      message: `expected base64 of an unencrypted PEM RSA private key (it does not decode to one); ${RSA_HOWTO}`,
    });
    return z.NEVER;
  }
  return base64;
});

const bucketName = text.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
  error: "expected a bucket name: 3-63 lowercase letters, digits, dots or hyphens",
});

const expirationDays = integer(1, 3650, "a whole number of days");

const mqttEndpoint = text.refine(
  (v) =>
    v.includes("://")
      ? parseUrl(v, ["mqtt:", "mqtts:", "tls:", "ssl:", "tcp:", "ws:", "wss:"]) !== null
      : /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(v),
  { error: "expected host[:port] or a URL such as mqtts://mqtt.example.com:1984" },
);

const mqttNamespace = text.regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, {
  error: "expected letters, digits, '_' or '-' segments separated by '/' (no MQTT wildcards)",
});

const roles = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z
    .array(oneOf(ROLES), { error: 'expected a list of roles, e.g. "api,drain,scheduler"' })
    .min(1, { error: "expected at least one of api, drain, scheduler" })
    .transform((list) => [...new Set(list)]),
);

/** Installer rule: 2-38 characters, starting with a letter or digit. Validated, then ignored. */
export const accountNameSchema = z
  .string({ error: "expected a string" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{1,37}$/, {
    error: "expected 2-38 characters: letters, digits, '_' or '-', starting with a letter or digit",
  });

export const ignoredExpirationDaysSchema = expirationDays;

const isHttpUrl = (v: string) => parseUrl(v, ["http:", "https:"]) !== null;

/** Drops "" and null recursively: the installer's config.json ships placeholders as "". */
function dropEmpty(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const inner = dropEmpty(v);
    if (inner === "" || inner === null || inner === undefined) continue;
    if (typeof inner === "object" && !Array.isArray(inner) && Object.keys(inner).length === 0) continue;
    out[k] = inner;
  }
  return out;
}

const optionalString = z.string({ error: "expected a string" }).optional();

/** `sso_config` as the seed installer documents it, turned into SsoConfig (or null when unset). */
const sso = z
  .preprocess(
    dropEmpty,
    z.object(
      {
        sso_type: oneOf(["OIDC", "SAML"]).optional(),
        admin_login: optionalString,
        update_on_install: boolean.optional(),
        oidc_args: z
          .object(
            { client_id: optionalString, client_credentials: optionalString, identity_provider_host: optionalString },
            { error: "expected an object" },
          )
          .optional(),
        saml_args: z
          .object(
            {
              metadata: optionalString,
              dynamic: boolean.optional(),
              name_id_format: oneOf(["TRANSIENT", "EMAIL_ADDRESS", "PERMANENT"]).optional(),
            },
            { error: "expected an object" },
          )
          .optional(),
      },
      { error: "expected an object" },
    ),
  )
  .transform((raw, ctx): SsoConfig | null => {
    const missing = (p: string[], message: string) => ctx.addIssue({ code: "custom", path: p, message });
    if (!raw.sso_type) {
      if (Object.keys(raw).length > 0) missing(["sso_type"], 'required: "OIDC" or "SAML"');
      return null;
    }
    if (raw.admin_login !== undefined && !/^[^@\s]+@[^@\s]+$/.test(raw.admin_login)) {
      missing(["admin_login"], "expected the email address of the first SSO admin");
    }
    const base = { type: raw.sso_type, adminLogin: raw.admin_login ?? null };
    if (raw.sso_type === "OIDC") {
      const args = raw.oidc_args ?? {};
      for (const field of ["client_id", "client_credentials", "identity_provider_host"] as const) {
        if (args[field] === undefined) missing(["oidc_args", field], 'required when sso_type is "OIDC"');
      }
      if (args.identity_provider_host !== undefined && !isHttpUrl(args.identity_provider_host)) {
        missing(["oidc_args", "identity_provider_host"], "expected the IdP host with protocol, e.g. https://mycorp.okta.com");
      }
      if (!args.client_id || !args.client_credentials || !args.identity_provider_host) return z.NEVER;
      return {
        ...base,
        oidc: {
          clientId: args.client_id,
          clientCredentials: args.client_credentials,
          identityProviderHost: args.identity_provider_host.replace(/\/+$/, ""),
        },
      };
    }
    const args = raw.saml_args ?? {};
    if (args.dynamic === undefined) missing(["saml_args", "dynamic"], 'required when sso_type is "SAML": true or false');
    if (args.metadata === undefined) missing(["saml_args", "metadata"], 'required when sso_type is "SAML"');
    if (args.metadata !== undefined && args.dynamic === true && !isHttpUrl(args.metadata)) {
      missing(["saml_args", "metadata"], "must be the URL of the IdP metadata when dynamic is true");
    }
    if (args.metadata !== undefined && args.dynamic === false && !args.metadata.trimStart().startsWith("<")) {
      missing(
        ["saml_args", "metadata"],
        "must be the IdP metadata XML when dynamic is false (escape the file with `jq -R -s .`), or set dynamic to true for a URL",
      );
    }
    if (args.metadata === undefined || args.dynamic === undefined) return z.NEVER;
    return {
      ...base,
      saml: { metadata: args.metadata, dynamic: args.dynamic, nameIdFormat: args.name_id_format ?? "TRANSIENT" },
    };
  });

const resourceTags = z.array(
  z.strictObject(
    {
      key: z.string({ error: "expected a string" }).min(1, { error: "must not be empty" }).max(128, { error: "at most 128 characters" }),
      value: z.string({ error: "expected a string" }).max(256, { error: "at most 256 characters" }),
    },
    { error: 'expected an object {"key": "...", "value": "..."}' },
  ),
  { error: 'expected a list of {"key": "...", "value": "..."} objects' },
);

const snsTopicArn = text.regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$/, {
  error: "expected an SNS topic ARN, e.g. arn:aws:sns:eu-west-1:123456789012:alerts",
});

const nullable = <T extends z.ZodType>(schema: T) => schema.nullable().default(null);

const bucketDefaults: Record<BucketName, string> = {
  runLogs: "run-logs",
  states: "states",
  workspaces: "workspaces",
  metadata: "metadata",
  policyInputs: "policy-inputs",
  uploads: "uploads",
  userUploadedWorkspaces: "user-uploaded-workspaces",
  deliveries: "deliveries",
  largeQueueMessages: "large-queue-messages",
  modules: "modules",
};

const expirationDefaults: Record<ExpiringBucketName, number> = {
  runLogs: 60,
  deliveries: 1,
  largeQueueMessages: 2,
  metadata: 2,
  policyInputs: 7,
  uploads: 1,
  userUploadedWorkspaces: 1,
  workspaces: 7,
};

const record = <K extends string, T extends z.ZodType>(keys: readonly K[], leaf: (k: K) => T) =>
  z.strictObject(Object.fromEntries(keys.map((k) => [k, leaf(k)])) as { [P in K]: T });

/**
 * The one schema for the whole config, keyed like Config. Its input is the candidate that
 * config-sources.ts assembles (one value per setting, from the winning source, undefined when
 * unset); derived defaults (publicUrl, directory, endpoint…) are left to finalizeConfig.
 */
export const configSchema = z.strictObject({
  dataDir: absolutePath.optional(),
  server: z.strictObject({
    hostname: hostname.default("localhost"),
    port: integer(1, 65535).default(1983),
    bindAddress: bindAddress.default("0.0.0.0"),
    publicUrl: httpUrl.optional(),
    webhooksEndpoint: webhooksEndpoint.optional(),
    roles: roles.default([...ROLES]),
  }),
  database: z.strictObject({ url: nullable(databaseUrl), poolSize: integer(1, 1000).default(10) }),
  objectStorage: z.strictObject({
    type: oneOf(["filesystem", "aws", "minio", "gcp", "azure"]).default("filesystem"),
    directory: absolutePath.optional(),
    buckets: record(BUCKET_NAMES, (k) => bucketName.default(bucketDefaults[k])),
    expirationDays: record(Object.keys(expirationDefaults) as ExpiringBucketName[], (k) =>
      expirationDays.default(expirationDefaults[k]),
    ),
    s3: z.strictObject({
      region: nullable(text),
      endpoint: nullable(text),
      forcePathStyle: boolean.default(false),
      accessKeyId: nullable(text),
      secretAccessKey: nullable(text),
      useSsl: boolean.default(true),
      allowInsecure: boolean.default(false),
    }),
    gcs: z.strictObject({ projectId: nullable(text), apiEndpoint: nullable(httpUrl) }),
    azure: z.strictObject({ accountUrl: nullable(httpUrl), connectionString: nullable(text) }),
  }),
  messageQueue: z.strictObject({
    type: oneOf(["postgres", "sqs"]).default("postgres"),
    sqs: record(SQS_QUEUES, () => nullable(httpUrl)),
  }),
  mqtt: z.strictObject({
    type: oneOf(["builtin", "external", "iotcore"]).default("builtin"),
    port: integer(1, 65535).default(1984),
    endpoint: mqttEndpoint.optional(),
    username: nullable(text),
    password: nullable(text),
    namespace: mqttNamespace.default("stackyard"),
    logLevel: oneOf([...LOG_LEVELS, "silent"]).default("error"),
    tls: z.strictObject({ certFile: nullable(absolutePath), keyFile: nullable(absolutePath) }),
  }),
  encryption: z.strictObject({
    type: oneOf(["rsa", "kms"]).default("rsa"),
    rsaPrivateKey: nullable(rsaPrivateKey),
    kms: z.strictObject({ encryptionKeyId: nullable(text), signingKeyId: nullable(text), region: nullable(text) }),
  }),
  admin: z.strictObject({
    username: nullable(text),
    password: nullable(text.min(12, { error: "must be at least 12 characters" })),
  }),
  sso: sso.optional().transform((v) => v ?? null),
  globalResourceTags: resourceTags.default([]),
  alerting: z.strictObject({ snsTopicArn: nullable(snsTopicArn) }),
  automaticallyReportUsageData: boolean.default(false),
  log: z.strictObject({ level: oneOf(LOG_LEVELS).default("info"), format: oneOf(["auto", "json", "pretty"]).default("auto") }),
  toolchain: z.strictObject({ binDir: nullable(absolutePath) }),
  queue: z.strictObject({ concurrency: integer(1, 1000).default(5), pollIntervalMs: integer(10, 3_600_000).default(1000) }),
  workers: z.strictObject({ heartbeatTimeoutSeconds: integer(5, 86_400).default(60) }),
});

export type ParsedConfig = z.output<typeof configSchema>;

/** Fills the defaults that depend on other fields. Pure: no I/O. */
export function finalizeConfig(parsed: ParsedConfig, opts: { cwd: string; configFile: string | null }): ConfigData {
  const { server: s, objectStorage: os, mqtt } = parsed;
  const dataDir = parsed.dataDir ?? path.resolve(opts.cwd, ".stackyard");
  const publicUrl = s.publicUrl ?? `http://${s.hostname}:${s.port}`;
  const { useSsl, endpoint, ...s3 } = os.s3;
  const minioEndpoint = endpoint && !endpoint.includes("://") ? `${useSsl ? "https" : "http"}://${endpoint}` : endpoint;
  const mqttScheme = mqtt.tls.certFile ? "mqtts" : "mqtt";
  return {
    ...parsed,
    dataDir,
    configFile: opts.configFile,
    server: { ...s, publicUrl, webhooksEndpoint: s.webhooksEndpoint ?? publicUrl },
    objectStorage: {
      ...os,
      directory: os.directory ?? path.join(dataDir, "objects"),
      s3: {
        ...s3,
        endpoint: os.type === "minio" ? minioEndpoint : endpoint,
        forcePathStyle: os.type === "minio" || s3.forcePathStyle,
      },
    },
    mqtt: { ...mqtt, endpoint: mqtt.endpoint ?? `${mqttScheme}://${s.hostname}:${mqtt.port}` },
  };
}
