import { z } from "zod";
import { configSchema } from "./config-schema.ts";
import {
  accountNameSchema,
  ignoredExpirationDaysSchema,
} from "./config-values.ts";

export type FlagName = "dataDir" | "port" | "mqttPort" | "roles" | "healthPort";

/**
 * One configurable value. `key` is its dotted path in the configSchema candidate (mostly the
 * Config path). Sources, lowest priority first: default < config.json (`json`) < environment
 * (`env`) < CLI flag. Within `env` and within `json` the first name that is set wins. An empty
 * string counts as unset in both.
 */
export interface Setting {
  key: string;
  env: readonly string[];
  json: readonly string[];
  flag?: { name: FlagName; cli: string };
  /**
   * What an unset value means, for a setting whose schema default is null or absent: a
   * value derived from others (finalizeConfig), found elsewhere, or a component's own.
   * Any other default is the schema's (config-schema.ts), not restated here.
   */
  unsetMeans?: string;
  /** Said after the schema's default in the docs, e.g. where `stackyard up` differs. */
  defaultNote?: string;
  description: string;
  /** "all": value never shown; "url-password": only the password (and password query params) hidden. */
  redact?: "all" | "url-password";
  /** Relative values resolve against cwd (env, flags) or the config file's directory (config.json). */
  isPath?: true;
}

const bucket = (
  key: string,
  envSuffix: string,
  jsonKey: string,
  what: string,
): Setting => ({
  key: `objectStorage.buckets.${key}`,
  env: [`OBJECT_STORAGE_BUCKET_${envSuffix}`],
  json: [`object_storage.buckets.${jsonKey}`],
  description: `Bucket (or container / directory) for ${what}.`,
});

const expiry = (key: string, jsonKey: string): Setting => ({
  key: `objectStorage.expirationDays.${key}`,
  env: [],
  json: [`s3_config.${jsonKey}_expiration_days`],
  description:
    "Days before objects in this bucket expire (1-3650); applied as a lifecycle rule where supported.",
});

const sqs = (key: string, name: string): Setting => ({
  key: `messageQueue.sqs.${key}Url`,
  env: [`MESSAGE_QUEUE_SQS_${name}_URL`],
  json: [`message_queue.sqs.${name.toLowerCase()}_url`],
  description: `URL of the ${name.toLowerCase().replaceAll("_", " ")} SQS queue; required when MESSAGE_QUEUE_TYPE=sqs.`,
});

export const settings: readonly Setting[] = [
  {
    key: "dataDir",
    env: ["STACKYARD_DATA_DIR"],
    json: ["data_dir"],
    flag: { name: "dataDir", cli: "--data-dir" },
    unsetMeans: "./.stackyard",
    description:
      "Directory for embedded Postgres, the generated RSA key and filesystem object storage.",
    isPath: true,
  },
  {
    key: "server.hostname",
    env: ["STACKYARD_HOSTNAME", "SERVER_DOMAIN"],
    json: ["spacelift_hostname", "hostname"],
    description:
      "Public hostname, without protocol or trailing slash (e.g. stackyard.example.com).",
  },
  {
    key: "server.port",
    env: ["STACKYARD_PORT"],
    json: ["port"],
    flag: { name: "port", cli: "--port" },
    description: "HTTP port of the API, UI and webhooks.",
  },
  {
    key: "server.healthPort",
    env: ["STACKYARD_HEALTH_PORT"],
    json: ["health_port"],
    flag: { name: "healthPort", cli: "--health-port" },
    description:
      "Port of the health listener (`/livez`, `/readyz`, `/metrics`) of a `stackyard server` process without the api role (drain, scheduler), for probes and scraping (0: any free port). The api role serves the same paths on its HTTP port; this setting is then unused.",
  },
  {
    key: "server.bindAddress",
    env: ["STACKYARD_BIND_ADDRESS"],
    json: ["bind_address"],
    description:
      "Address the HTTP server and the builtin MQTT broker listen on.",
  },
  {
    key: "server.publicUrl",
    env: ["STACKYARD_PUBLIC_URL"],
    json: ["public_url"],
    unsetMeans: "http://<hostname>:<port>",
    description:
      "URL users and launchers reach the server at (set it when behind a TLS proxy).",
  },
  {
    key: "server.webhooksEndpoint",
    env: ["WEBHOOKS_ENDPOINT"],
    json: ["webhooks_endpoint"],
    unsetMeans: "public URL",
    description:
      "Base URL shown for VCS webhooks. A bare host means `https://<host>`. Does not change routing.",
  },
  {
    key: "server.roles",
    env: ["STACKYARD_ROLES"],
    json: ["roles"],
    flag: { name: "roles", cli: "--roles" },
    description:
      "Process roles to run, comma-separated (a JSON array in config.json).",
  },
  {
    key: "server.trustedProxies",
    env: ["STACKYARD_TRUSTED_PROXIES"],
    json: ["trusted_proxies"],
    description:
      "Reverse proxies (IP addresses or CIDRs, comma-separated; a JSON array in config.json) whose `X-Forwarded-For` names the client. Unset: the connecting address is the client, as login policies and rate limits see it.",
  },
  {
    key: "database.url",
    env: ["DATABASE_URL"],
    json: ["database.url", "database.connection_string"],
    unsetMeans: "embedded Postgres",
    description:
      "Postgres 14+ connection URL. Unset: an embedded Postgres runs in the data dir. Spacelift's `statement_cache_capacity` query parameter is accepted and stripped.",
    redact: "url-password",
  },
  {
    key: "database.poolSize",
    env: ["STACKYARD_DATABASE_POOL_SIZE"],
    json: ["database.pool_size"],
    description: "Maximum connections per process (1-1000).",
  },
  {
    key: "objectStorage.type",
    env: ["OBJECT_STORAGE_TYPE"],
    json: ["object_storage.type"],
    description:
      "Object storage backend: filesystem, aws, minio, gcp or azure.",
  },
  {
    key: "objectStorage.directory",
    env: ["STACKYARD_OBJECT_STORAGE_DIR"],
    json: ["object_storage.directory"],
    unsetMeans: "<data_dir>/objects",
    description:
      "Root directory of the filesystem backend; one subdirectory per bucket.",
    isPath: true,
  },
  bucket("runLogs", "RUN_LOGS", "run_logs", "run logs"),
  bucket("states", "STATES", "states", "managed state (enable versioning)"),
  bucket(
    "workspaces",
    "WORKSPACE",
    "workspaces",
    "workspaces of runs awaiting confirmation",
  ),
  bucket("metadata", "METADATA", "metadata", "run metadata for workers"),
  bucket(
    "policyInputs",
    "POLICY_INPUTS",
    "policy_inputs",
    "sampled policy inputs",
  ),
  bucket("uploads", "UPLOADS", "uploads", "UI uploads such as state imports"),
  bucket(
    "userUploadedWorkspaces",
    "USER_UPLOADED_WORKSPACES",
    "user_uploaded_workspaces",
    "local-preview workspaces",
  ),
  bucket(
    "deliveries",
    "DELIVERIES",
    "deliveries",
    "webhook and audit-trail deliveries",
  ),
  bucket(
    "largeQueueMessages",
    "LARGE_QUEUE_MESSAGES",
    "large_queue_messages",
    "queue payloads too large for a message",
  ),
  bucket(
    "modules",
    "MODULES",
    "modules",
    "module and provider registry artifacts",
  ),
  expiry("runLogs", "run_logs"),
  expiry("deliveries", "deliveries_bucket"),
  expiry("largeQueueMessages", "large_queue_messages_bucket"),
  expiry("metadata", "metadata_bucket"),
  expiry("policyInputs", "policy_inputs_bucket"),
  expiry("uploads", "uploads_bucket"),
  expiry("userUploadedWorkspaces", "user_uploaded_workspaces_bucket"),
  expiry("workspaces", "workspaces_bucket"),
  {
    key: "objectStorage.s3.region",
    env: ["AWS_REGION", "AWS_DEFAULT_REGION"],
    json: ["object_storage.s3.region"],
    description: "S3 region; required when OBJECT_STORAGE_TYPE=aws.",
  },
  {
    key: "objectStorage.s3.endpoint",
    env: ["OBJECT_STORAGE_MINIO_ENDPOINT", "STACKYARD_S3_ENDPOINT"],
    json: ["object_storage.s3.endpoint"],
    description:
      "S3 API endpoint; required for minio (host:port, or a URL). Optional for aws (S3-compatible services).",
  },
  {
    key: "objectStorage.s3.useSsl",
    env: ["OBJECT_STORAGE_MINIO_USE_SSL"],
    json: ["object_storage.s3.use_ssl"],
    description:
      "For a minio endpoint given as host:port: true means https, false http.",
  },
  {
    key: "objectStorage.s3.allowInsecure",
    env: ["OBJECT_STORAGE_MINIO_ALLOW_INSECURE"],
    json: ["object_storage.s3.allow_insecure"],
    description: "Skip TLS certificate verification for the S3 endpoint.",
  },
  {
    key: "objectStorage.s3.forcePathStyle",
    env: ["STACKYARD_S3_FORCE_PATH_STYLE"],
    json: ["object_storage.s3.force_path_style"],
    description: "Use path-style bucket addressing (always on for minio).",
  },
  {
    key: "objectStorage.s3.accessKeyId",
    env: ["OBJECT_STORAGE_MINIO_ACCESS_KEY_ID"],
    json: ["object_storage.s3.access_key_id"],
    description:
      "MinIO access key id; required for minio. For aws, credentials come from the AWS default chain.",
  },
  {
    key: "objectStorage.s3.secretAccessKey",
    env: ["OBJECT_STORAGE_MINIO_SECRET_ACCESS_KEY"],
    json: ["object_storage.s3.secret_access_key"],
    description: "MinIO secret access key; required for minio.",
    redact: "all",
  },
  {
    key: "objectStorage.gcs.projectId",
    env: ["GCP_PROJECT"],
    json: ["object_storage.gcs.project_id"],
    description: "Google Cloud project; required when OBJECT_STORAGE_TYPE=gcp.",
  },
  {
    key: "objectStorage.gcs.apiEndpoint",
    env: ["STACKYARD_GCS_ENDPOINT"],
    json: ["object_storage.gcs.api_endpoint"],
    unsetMeans: "Google's API",
    description: "Alternative GCS API endpoint (an emulator).",
  },
  {
    key: "objectStorage.azure.accountUrl",
    env: ["OBJECT_STORAGE_AZURE_ACCOUNT_URL"],
    json: ["object_storage.azure.account_url"],
    description:
      "Storage account URL carrying an account SAS (`https://<account>.blob.core.windows.net/?sv=…&sig=…`); azure needs this or a connection string. Entra ID sign-in (a URL without a SAS) is not supported. Presigned URLs need a connection string with an account key.",
    redact: "all",
  },
  {
    key: "objectStorage.azure.connectionString",
    env: ["STACKYARD_AZURE_CONNECTION_STRING"],
    json: ["object_storage.azure.connection_string"],
    description:
      "Azure storage connection string (used instead of the account URL, e.g. for Azurite).",
    redact: "all",
  },
  {
    key: "messageQueue.type",
    env: ["MESSAGE_QUEUE_TYPE"],
    json: ["message_queue.type"],
    description: "postgres (built-in queue, recommended) or sqs.",
  },
  sqs("async", "ASYNC"),
  sqs("asyncFifo", "ASYNC_FIFO"),
  sqs("cronjobs", "CRONJOBS"),
  sqs("dlq", "DLQ"),
  sqs("dlqFifo", "DLQ_FIFO"),
  sqs("eventsInbox", "EVENTS_INBOX"),
  sqs("iot", "IOT"),
  sqs("webhooks", "WEBHOOKS"),
  {
    key: "mqtt.type",
    env: ["MQTT_BROKER_TYPE"],
    json: ["mqtt_broker.type"],
    description:
      "builtin (embedded broker), external (your MQTT broker) or iotcore (needs MESSAGE_QUEUE_TYPE=sqs).",
  },
  {
    key: "mqtt.port",
    env: ["STACKYARD_MQTT_PORT"],
    json: ["mqtt_broker.port"],
    flag: { name: "mqttPort", cli: "--mqtt-port" },
    description: "Port of the builtin broker; must differ from the HTTP port.",
  },
  {
    key: "mqtt.endpoint",
    env: ["MQTT_BROKER_ENDPOINT"],
    json: ["mqtt_broker.endpoint"],
    unsetMeans: "mqtt://<hostname>:<mqtt_port>",
    description:
      "Broker address launchers connect to; required for external and iotcore. The builtin default uses mqtts:// when TLS is configured.",
  },
  {
    key: "mqtt.username",
    env: ["STACKYARD_MQTT_USERNAME"],
    json: ["mqtt_broker.username"],
    description: "Username for an external broker.",
  },
  {
    key: "mqtt.password",
    env: ["STACKYARD_MQTT_PASSWORD"],
    json: ["mqtt_broker.password"],
    description: "Password for an external broker.",
    redact: "all",
  },
  {
    key: "mqtt.namespace",
    env: ["STACKYARD_MQTT_NAMESPACE", "MQTT_BROKER_IOTCORE_NAMESPACE"],
    json: ["mqtt_broker.namespace"],
    description: "Topic prefix for all server/launcher topics.",
  },
  {
    key: "mqtt.logLevel",
    env: ["MQTT_BROKER_BUILTIN_LOG_LEVEL"],
    json: ["mqtt_broker.log_level"],
    description: "Log level of the builtin broker (trace … fatal, or silent).",
  },
  {
    key: "mqtt.tls.certFile",
    env: ["STACKYARD_MQTT_TLS_CERT_FILE"],
    json: ["mqtt_broker.tls.cert_file"],
    description:
      "PEM certificate for the builtin broker's TLS listener; set together with the key file.",
    isPath: true,
  },
  {
    key: "mqtt.tls.keyFile",
    env: ["STACKYARD_MQTT_TLS_KEY_FILE"],
    json: ["mqtt_broker.tls.key_file"],
    description: "PEM private key for the builtin broker's TLS listener.",
    isPath: true,
  },
  {
    key: "encryption.type",
    env: ["ENCRYPTION_TYPE"],
    json: ["encryption.type"],
    description:
      "rsa (built-in RSA + AES-256) or kms. Cannot be changed after the first start.",
  },
  {
    key: "encryption.rsaPrivateKey",
    env: ["ENCRYPTION_RSA_PRIVATE_KEY"],
    json: ["encryption.rsa_private_key"],
    unsetMeans: "generated into the data dir",
    description:
      "Base64 of an unencrypted PEM RSA private key: `openssl genrsa 4096 | base64 -w0`.",
    redact: "all",
  },
  {
    key: "encryption.kms.encryptionKeyId",
    env: ["ENCRYPTION_KMS_ENCRYPTION_KEY_ID"],
    json: ["encryption.kms.encryption_key_id"],
    description:
      "KMS key (ENCRYPT_DECRYPT, SYMMETRIC_DEFAULT); required when ENCRYPTION_TYPE=kms.",
  },
  {
    key: "encryption.kms.signingKeyId",
    env: ["ENCRYPTION_KMS_SIGNING_KEY_ID"],
    json: ["encryption.kms.signing_key_id"],
    description:
      "KMS key (SIGN_VERIFY, RSA_4096) that signs tokens; required when ENCRYPTION_TYPE=kms.",
  },
  {
    key: "encryption.kms.region",
    env: ["ENCRYPTION_KMS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
    json: ["encryption.kms.region"],
    description: "Region of the KMS keys; required when ENCRYPTION_TYPE=kms.",
  },
  {
    key: "aws.endpointUrl",
    env: ["STACKYARD_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"],
    json: [],
    description:
      "Endpoint for the AWS KMS and SQS clients (ENCRYPTION_TYPE=kms, MESSAGE_QUEUE_TYPE=sqs), for an AWS-compatible service or a VPC endpoint; unset: the AWS default for the region.",
  },
  {
    key: "admin.username",
    env: ["ADMIN_USERNAME"],
    json: ["admin.username"],
    description:
      "Break-glass admin login (/admin-login); set together with the password.",
  },
  {
    key: "admin.password",
    env: ["ADMIN_PASSWORD"],
    json: ["admin.password"],
    description: "Break-glass admin password, at least 12 characters.",
    redact: "all",
  },
  {
    key: "sso",
    env: [],
    json: ["sso_config"],
    unsetMeans: "no SSO",
    description:
      "Installer `sso_config`: `sso_type` OIDC or SAML, `admin_login`, `oidc_args` {client_id, client_credentials, identity_provider_host} or `saml_args` {metadata, dynamic, name_id_format}. `update_on_install` is accepted and ignored.",
  },
  {
    key: "globalResourceTags",
    env: [],
    json: ["global_resource_tags"],
    description:
      'Tags applied to created cloud resources: [{"key": "...", "value": "..."}].',
  },
  {
    key: "alerting.snsTopicArn",
    env: [],
    json: ["alerting.sns_topic_arn"],
    description: "SNS topic ARN for alerts.",
  },
  {
    key: "automaticallyReportUsageData",
    env: [],
    json: ["automatically_report_usage_data"],
    description: "Report usage data automatically.",
  },
  {
    key: "log.level",
    env: ["STACKYARD_LOG_LEVEL"],
    json: ["log.level"],
    description: "trace, debug, info, warn, error or fatal.",
  },
  {
    key: "log.format",
    env: ["STACKYARD_LOG_FORMAT"],
    json: ["log.format"],
    description:
      "json, pretty, or auto (pretty on a terminal, json otherwise).",
  },
  {
    key: "toolchain.binDir",
    env: ["STACKYARD_BIN_DIR"],
    json: ["toolchain.bin_dir"],
    unsetMeans: "found on PATH",
    description: "Directory holding the tofu/terraform and opa binaries.",
    isPath: true,
  },
  {
    key: "queue.concurrency",
    env: ["STACKYARD_QUEUE_CONCURRENCY"],
    json: ["queue.concurrency"],
    description: "Jobs one drain process runs at once (1-1000).",
  },
  {
    key: "queue.pollIntervalMs",
    env: ["STACKYARD_QUEUE_POLL_INTERVAL_MS"],
    json: ["queue.poll_interval_ms"],
    description:
      "How often an idle drain polls for jobs, in milliseconds (10-3600000).",
  },
  {
    key: "workers.heartbeatTimeoutSeconds",
    env: ["STACKYARD_WORKER_HEARTBEAT_TIMEOUT_SECONDS"],
    json: ["workers.heartbeat_timeout_seconds"],
    description:
      "Seconds without a heartbeat before a worker counts as gone (5-86400).",
  },
  {
    key: "runs.maxDurationSeconds",
    env: ["STACKYARD_RUN_MAX_DURATION_SECONDS"],
    json: ["runs.max_duration_seconds"],
    description:
      "A run still held by a worker this many seconds after a worker took it is failed by the reconciler (60-604800; default 70 min).",
  },
  {
    key: "runs.logSilenceTimeoutSeconds",
    env: ["STACKYARD_RUN_LOG_SILENCE_TIMEOUT_SECONDS"],
    json: ["runs.log_silence_timeout_seconds"],
    description:
      "A run held by a worker that reports no activity (logs, state changes) for this many seconds is failed (30-86400).",
  },
  {
    key: "vcs.pollIntervalSeconds",
    env: ["STACKYARD_VCS_POLL_INTERVAL_SECONDS"],
    json: ["vcs.poll_interval_seconds"],
    description:
      "How often the tracked branches of raw git stacks are polled for new commits, in seconds (1-86400).",
  },
  {
    key: "repositories.allowLocal",
    env: ["STACKYARD_ALLOW_LOCAL_REPOSITORIES"],
    json: ["repositories.allow_local"],
    defaultNote: "true under `stackyard up`",
    description:
      "Let stacks use local paths and file:// URLs as repositories. Anyone who may create a stack could then make the server and launchers read any git repository on their disks; leave it off on shared servers.",
  },
  {
    key: "egress.allow",
    env: ["STACKYARD_EGRESS_ALLOW"],
    json: ["egress.allow"],
    description:
      "Hosts, addresses or CIDRs (comma-separated, e.g. `127.0.0.1/32,gitlab.internal`) the server may call on a user's behalf although they are loopback, link-local or cloud metadata addresses, which are refused otherwise (VCS provider APIs).",
  },
  // Policies.
  {
    key: "policies.opaUrl",
    env: ["STACKYARD_OPA_URL"],
    json: ["policies.opa_url"],
    unsetMeans: "none: a child process on a private Unix socket",
    description:
      "URL of an OPA server (v1.x, started with --v0-compatible) that Stackyard pushes policies to and evaluates them on; unset runs the opa binary from the toolchain.",
  },
  {
    key: "policies.opaMemoryLimitMiB",
    env: ["STACKYARD_OPA_MEMORY_LIMIT_MB"],
    json: ["policies.opa_memory_limit_mb"],
    description:
      "Memory limit of the embedded OPA, MiB (its data segment, RLIMIT_DATA, 128 to 65536): a policy that allocates past it ends that OPA process, which fails the evaluations in flight and is started again, instead of exhausting the host. Unused with STACKYARD_OPA_URL.",
  },
  ...(
    [
      ["plan", "PLAN"],
      ["login", "LOGIN"],
      ["push", "PUSH"],
      ["approval", "APPROVAL"],
      ["trigger", "TRIGGER"],
      ["notification", "NOTIFICATION"],
      ["intent", "INTENT"],
    ] as const
  ).map(
    ([key, name]): Setting => ({
      key: `policies.timeoutsMs.${key}`,
      env: [`POLICY_REGO_TIMEOUT_${name}`],
      json: [`policies.rego_timeout_${key}`],
      description: `Time one ${name} policy may take to evaluate ("45s", "500ms", "2m"; 100ms-10m); past it the evaluation fails.`,
    }),
  ),
  {
    key: "policies.timeoutsMs.combined",
    env: ["POLICY_REGO_EVALUATION_COMBINED_TIMEOUT"],
    json: ["policies.rego_evaluation_combined_timeout"],
    description:
      "Time all policies of one event may take together; policies not evaluated by then fail.",
  },
];

/**
 * config.json fields of the Spacelift installer that mean nothing here (AWS infrastructure).
 * They are accepted so an existing installer config.json loads; a schema validates the few
 * whose seed rules we know.
 */
export const ignoredJsonFields: readonly {
  path: string;
  schema?: z.ZodType;
  description: string;
}[] = [
  { path: "$schema", description: "JSON schema hint for editors." },
  {
    path: "account_name",
    schema: accountNameSchema,
    description:
      "Installer account name (2-38 chars, `[A-Za-z0-9][A-Za-z0-9_-]*`); validated, then ignored.",
  },
  {
    path: "aws_region",
    description: "Installer AWS region; ignored (use AWS_REGION).",
  },
  {
    path: "load_balancer",
    description: "Installer load balancer settings; ignored.",
  },
  {
    path: "iot_broker_endpoint",
    description:
      "Installer IoT Core endpoint; ignored (use MQTT_BROKER_ENDPOINT).",
  },
  { path: "tracing", description: "Installer tracing settings; ignored." },
  {
    path: "uploads_bucket_url",
    description: "Installer uploads bucket URL; ignored.",
  },
  {
    path: "vpc_config",
    description: "Installer custom VPC settings; ignored.",
  },
  {
    path: "proxy_config",
    description: "Installer HTTP proxy settings; ignored.",
  },
  { path: "tls_config", description: "Installer TLS settings; ignored." },
  {
    path: "database.delete_protection_enabled",
    description: "Installer RDS setting; ignored.",
  },
  {
    path: "database.instance_class",
    description: "Installer RDS setting; ignored.",
  },
  {
    path: "database.postgres_engine_version",
    description: "Installer RDS setting; ignored.",
  },
  {
    path: "database.connection_string_ssm_arn",
    description: "Installer SSM secret ARN; ignored (set DATABASE_URL).",
  },
  {
    path: "database.connection_string_ssm_kms_arn",
    description: "Installer SSM KMS key ARN; ignored.",
  },
  {
    path: "s3_config.access_logs_bucket_expiration_days",
    schema: ignoredExpirationDaysSchema,
    description:
      "Installer load-balancer access-log retention (1-3650); validated, then ignored.",
  },
];

/** Paths inside `sso_config` (validated by the sso schema); listed so typos get a suggestion. */
export const ssoJsonFields: readonly string[] = [
  "sso_config.sso_type",
  "sso_config.admin_login",
  "sso_config.update_on_install",
  "sso_config.oidc_args.client_id",
  "sso_config.oidc_args.client_credentials",
  "sso_config.oidc_args.identity_provider_host",
  "sso_config.saml_args.metadata",
  "sso_config.saml_args.dynamic",
  "sso_config.saml_args.name_id_format",
];

export const secretJsonPaths: ReadonlySet<string> = new Set([
  "sso_config.oidc_args.client_credentials",
]);

/**
 * The schema's default at `key` (a dotted path in configSchema), or undefined where the
 * schema has none (the value is optional, or derived in finalizeConfig).
 */
export function schemaDefault(key: string): { value: unknown } | undefined {
  let node: z.ZodType = configSchema;
  for (const part of key.split(".")) {
    if (!(node instanceof z.ZodObject)) return undefined;
    const shape = node.shape as Record<string, z.ZodType>;
    const next = shape[part];
    if (!next) return undefined;
    node = next;
  }
  return node instanceof z.ZodDefault
    ? { value: node.def.defaultValue }
    : undefined;
}

/** Milliseconds as the duration syntax the setting accepts ("45s", "5m", "500ms"). */
function duration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function formatDefault(key: string, value: unknown): string {
  if (value === null) return "none";
  if (Array.isArray(value))
    return value.length === 0 ? "none" : value.join(",");
  if (typeof value === "number" && key.startsWith("policies.timeoutsMs."))
    return duration(value);
  return String(value);
}

/**
 * The default docs/configuration.md states: `unsetMeans` where the setting has one, else
 * the schema's default (config-schema.ts, the one place defaults are stated), formatted
 * as the setting is written, with `defaultNote` after it.
 */
export function documentedDefault(s: Setting): string {
  if (s.unsetMeans !== undefined) return s.unsetMeans;
  const found = schemaDefault(s.key);
  const text = found ? formatDefault(s.key, found.value) : "none";
  return s.defaultNote ? `${text} (${s.defaultNote})` : text;
}

/** Secret env variables may instead name a file holding the value: `<NAME>_FILE`. */
export const fileVariant = (env: string) => `${env}_FILE`;

export interface ConfigReferenceEntry {
  env: string[];
  configJson?: string;
  default: string;
  description: string;
  secret: boolean;
}

/** One row per setting, in docs order; docs/configuration.md is generated from it. */
export const configReference: ConfigReferenceEntry[] = [
  {
    env: ["STACKYARD_CONFIG_FILE"],
    default: "none",
    description:
      "config.json to load (the CLI flag `-c` takes precedence). Without it no file is read.",
    secret: false,
  },
  ...settings.map((s) => ({
    env: s.redact ? s.env.flatMap((e) => [e, fileVariant(e)]) : [...s.env],
    ...(s.json.length > 0 ? { configJson: s.json.join(" / ") } : {}),
    default: documentedDefault(s),
    description: s.flag
      ? `${s.description} Flag: \`${s.flag.cli}\`.`
      : s.description,
    secret: s.redact !== undefined,
  })),
  ...ignoredJsonFields.map((f) => ({
    env: [],
    configJson: f.path,
    default: "-",
    description: f.description,
    secret: false,
  })),
];
