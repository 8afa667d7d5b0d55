import path from "node:path";
import { z } from "zod";
import {
  absolutePath,
  bindAddress,
  boolean,
  bucketName,
  databaseUrl,
  egressAllowList,
  expirationDays,
  hostname,
  httpUrl,
  integer,
  mqttEndpoint,
  mqttNamespace,
  oneOf,
  resourceTags,
  ROLES,
  type Role,
  type SsoConfig,
  roles,
  rsaPrivateKey,
  snsTopicArn,
  sso,
  text,
  webhooksEndpoint,
  trustedProxies,
} from "./config-values.ts";

export { ROLES, type Role, type SsoConfig } from "./config-values.ts";

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

export const LOG_LEVELS = [
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
] as const;
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
    /** Peers whose X-Forwarded-For gives the client address; empty: the socket's peer is the client. */
    trustedProxies: string[];
    /**
     * Port of the health listener (`/livez`, `/readyz`, `/metrics`) of a process without
     * the api role (drain, scheduler); null: none. The api role serves them on `port`.
     */
    healthPort: number | null;
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
  messageQueue: {
    type: "postgres" | "sqs";
    sqs: Record<SqsQueue, string | null>;
  };
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
    kms: {
      encryptionKeyId: string | null;
      signingKeyId: string | null;
      region: string | null;
    };
  };
  /** endpointUrl: where the KMS and SQS clients send requests; null: the AWS default. */
  aws: { endpointUrl: string | null };
  admin: { username: string | null; password: string | null };
  sso: SsoConfig | null;
  globalResourceTags: { key: string; value: string }[];
  alerting: { snsTopicArn: string | null };
  automaticallyReportUsageData: boolean;
  log: {
    level: (typeof LOG_LEVELS)[number];
    format: "auto" | "json" | "pretty";
  };
  toolchain: { binDir: string | null };
  queue: { concurrency: number; pollIntervalMs: number };
  workers: { heartbeatTimeoutSeconds: number };
  runs: { maxDurationSeconds: number; logSilenceTimeoutSeconds: number };
  /** VCS: how often raw git stacks' tracked branches are polled. */
  vcs: { pollIntervalSeconds: number };
  /** Whether stacks may use local paths and file:// URLs as repositories (`up` sets it). */
  repositories: { allowLocal: boolean };
  /** Hosts and CIDRs the egress guard lets through although loopback, link-local or metadata. */
  egress: { allow: string[] };
  /**
   * Policies: `opaUrl` null runs OPA as a child process of the server (on a private Unix socket);
   * timeouts are milliseconds per evaluation of one policy type, and for all policies of
   * one event together (`combined`).
   */
  policies: {
    opaUrl: string | null;
    /** The embedded OPA's data segment limit (RLIMIT_DATA), MiB: a policy past it kills OPA, not the host. */
    opaMemoryLimitMiB: number;
    timeoutsMs: Record<PolicyTimeoutType, number> & { combined: number };
  };
}

/** The policy types with their own evaluation timeout (POLICY_REGO_TIMEOUT_<TYPE>). */
export const POLICY_TIMEOUT_TYPES = [
  "plan",
  "login",
  "push",
  "approval",
  "trigger",
  "notification",
  "intent",
] as const;
export type PolicyTimeoutType = (typeof POLICY_TIMEOUT_TYPES)[number];

/** Deeply readonly and frozen at runtime. */
export type Config = DeepReadonly<ConfigData>;

const nullable = <T extends z.ZodType>(schema: T) =>
  schema.nullable().default(null);

/**
 * A policy timeout: a Go-style duration ("45s", "500ms", "2m") or bare seconds ("45"),
 * as milliseconds between 100 ms and 10 min.
 */
const policyTimeout = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    const m = /^\s*(\d+)\s*(ms|s|m)?\s*$/.exec(v);
    if (!m) return v;
    const n = Number(m[1]);
    return m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  },
  z
    .number({ error: 'expected a duration such as "45s", "500ms" or "2m"' })
    .int()
    .min(100, { error: "must be at least 100ms" })
    .max(600_000, { error: "must be at most 10m" }),
);

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

const record = <K extends string, T extends z.ZodType>(
  keys: readonly K[],
  leaf: (k: K) => T,
) =>
  z.strictObject(
    Object.fromEntries(keys.map((k) => [k, leaf(k)])) as { [P in K]: T },
  );

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
    trustedProxies: trustedProxies.default([]),
    healthPort: nullable(integer(0, 65535)),
  }),
  database: z.strictObject({
    url: nullable(databaseUrl),
    poolSize: integer(1, 1000).default(10),
  }),
  objectStorage: z.strictObject({
    type: oneOf(["filesystem", "aws", "minio", "gcp", "azure"]).default(
      "filesystem",
    ),
    directory: absolutePath.optional(),
    buckets: record(BUCKET_NAMES, (k) => bucketName.default(bucketDefaults[k])),
    expirationDays: record(
      Object.keys(expirationDefaults) as ExpiringBucketName[],
      (k) => expirationDays.default(expirationDefaults[k]),
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
    gcs: z.strictObject({
      projectId: nullable(text),
      apiEndpoint: nullable(httpUrl),
    }),
    azure: z.strictObject({
      accountUrl: nullable(httpUrl),
      connectionString: nullable(text),
    }),
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
    tls: z.strictObject({
      certFile: nullable(absolutePath),
      keyFile: nullable(absolutePath),
    }),
  }),
  encryption: z.strictObject({
    type: oneOf(["rsa", "kms"]).default("rsa"),
    rsaPrivateKey: nullable(rsaPrivateKey),
    kms: z.strictObject({
      encryptionKeyId: nullable(text),
      signingKeyId: nullable(text),
      region: nullable(text),
    }),
  }),
  aws: z.strictObject({ endpointUrl: nullable(httpUrl) }),
  admin: z.strictObject({
    username: nullable(text),
    password: nullable(
      text.min(12, { error: "must be at least 12 characters" }),
    ),
  }),
  sso: sso.optional().transform((v) => v ?? null),
  globalResourceTags: resourceTags.default([]),
  alerting: z.strictObject({ snsTopicArn: nullable(snsTopicArn) }),
  automaticallyReportUsageData: boolean.default(false),
  log: z.strictObject({
    level: oneOf(LOG_LEVELS).default("info"),
    format: oneOf(["auto", "json", "pretty"]).default("auto"),
  }),
  toolchain: z.strictObject({ binDir: nullable(absolutePath) }),
  queue: z.strictObject({
    concurrency: integer(1, 1000).default(5),
    pollIntervalMs: integer(10, 3_600_000).default(1000),
  }),
  workers: z.strictObject({
    heartbeatTimeoutSeconds: integer(5, 86_400).default(60),
  }),
  runs: z.strictObject({
    maxDurationSeconds: integer(60, 604_800).default(4200),
    logSilenceTimeoutSeconds: integer(30, 86_400).default(420),
  }),
  vcs: z.strictObject({
    pollIntervalSeconds: integer(1, 86_400).default(60),
  }),
  repositories: z.strictObject({ allowLocal: boolean.default(false) }),
  egress: z.strictObject({ allow: egressAllowList.default([]) }),
  // Policies.
  policies: z.strictObject({
    opaUrl: nullable(httpUrl),
    opaMemoryLimitMiB: integer(128, 65_536).default(1024),
    timeoutsMs: z.strictObject({
      plan: policyTimeout.default(45_000),
      login: policyTimeout.default(5_000),
      push: policyTimeout.default(10_000),
      approval: policyTimeout.default(5_000),
      trigger: policyTimeout.default(5_000),
      notification: policyTimeout.default(10_000),
      intent: policyTimeout.default(5_000),
      combined: policyTimeout.default(300_000),
    }),
  }),
});

export type ParsedConfig = z.output<typeof configSchema>;

/** Fills the defaults that depend on other fields. Pure: no I/O. */
export function finalizeConfig(
  parsed: ParsedConfig,
  opts: { cwd: string; configFile: string | null },
): ConfigData {
  const { server: s, objectStorage: os, mqtt } = parsed;
  const dataDir = parsed.dataDir ?? path.resolve(opts.cwd, ".stackyard");
  const publicUrl = s.publicUrl ?? `http://${s.hostname}:${s.port}`;
  const { useSsl, endpoint, ...s3 } = os.s3;
  const minioEndpoint =
    endpoint && !endpoint.includes("://")
      ? `${useSsl ? "https" : "http"}://${endpoint}`
      : endpoint;
  const mqttScheme = mqtt.tls.certFile ? "mqtts" : "mqtt";
  return {
    ...parsed,
    dataDir,
    configFile: opts.configFile,
    server: {
      ...s,
      publicUrl,
      webhooksEndpoint: s.webhooksEndpoint ?? publicUrl,
    },
    objectStorage: {
      ...os,
      directory: os.directory ?? path.join(dataDir, "objects"),
      s3: {
        ...s3,
        endpoint: os.type === "minio" ? minioEndpoint : endpoint,
        forcePathStyle: os.type === "minio" || s3.forcePathStyle,
      },
    },
    mqtt: {
      ...mqtt,
      endpoint: mqtt.endpoint ?? `${mqttScheme}://${s.hostname}:${mqtt.port}`,
    },
  };
}
