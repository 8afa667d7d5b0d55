import {
  BUCKET_NAMES,
  SQS_QUEUES,
  type ParsedConfig,
} from "./config-schema.ts";

/** A cross-field problem, reported on `key`; dropped when `key` or a `related` key is itself invalid. */
export interface RuleIssue {
  key: string;
  related: string[];
  message: string;
}

export interface RuleContext {
  /** What the user would call the setting: the variable, config.json path or flag that set it. */
  nameOf(key: string): string;
}

/** Rules between fields. Each leaf is already valid here; unset optional leaves are null/undefined. */
export function checkConfigRules(
  c: ParsedConfig,
  ctx: RuleContext,
): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const { nameOf } = ctx;
  const requireWhen = (
    key: string,
    value: unknown,
    related: string,
    is: string,
    hint = "",
  ) => {
    if (value === null || value === undefined) {
      issues.push({
        key,
        related: [related],
        message: `required when ${nameOf(related)} is "${is}"${hint}`,
      });
    }
  };

  // Seed rule: IoT Core delivers worker messages through SQS, so it cannot pair with the Postgres queue.
  if (c.mqtt.type === "iotcore" && c.messageQueue.type !== "sqs") {
    issues.push({
      key: "mqtt.type",
      related: ["messageQueue.type"],
      message: `"iotcore" requires ${nameOf("messageQueue.type")} to be "sqs" (it is "${c.messageQueue.type}"); configure the SQS queues or use the builtin broker`,
    });
  }
  if (c.messageQueue.type === "sqs") {
    for (const q of SQS_QUEUES)
      requireWhen(
        `messageQueue.sqs.${q}`,
        c.messageQueue.sqs[q],
        "messageQueue.type",
        "sqs",
      );
  }
  if (c.mqtt.type !== "builtin") {
    const example =
      c.mqtt.type === "iotcore"
        ? "<id>-ats.iot.<region>.amazonaws.com"
        : "mqtts://mqtt.example.com:8883";
    requireWhen(
      "mqtt.endpoint",
      c.mqtt.endpoint,
      "mqtt.type",
      c.mqtt.type,
      `, e.g. ${example}`,
    );
  }
  if (c.mqtt.type === "builtin" && c.mqtt.port === c.server.port) {
    issues.push({
      key: "mqtt.port",
      related: ["server.port"],
      message: `must differ from the HTTP port ${nameOf("server.port")} (both are ${c.server.port}); pick another port for the builtin MQTT broker`,
    });
  }
  bothOrNeither(
    issues,
    nameOf,
    ["mqtt.tls.certFile", c.mqtt.tls.certFile],
    ["mqtt.tls.keyFile", c.mqtt.tls.keyFile],
  );
  bothOrNeither(
    issues,
    nameOf,
    ["admin.username", c.admin.username],
    ["admin.password", c.admin.password],
  );

  if (c.encryption.type === "kms") {
    const kms = c.encryption.kms;
    requireWhen(
      "encryption.kms.encryptionKeyId",
      kms.encryptionKeyId,
      "encryption.type",
      "kms",
      " (an ENCRYPT_DECRYPT key)",
    );
    requireWhen(
      "encryption.kms.signingKeyId",
      kms.signingKeyId,
      "encryption.type",
      "kms",
      " (a SIGN_VERIFY RSA_4096 key)",
    );
    requireWhen("encryption.kms.region", kms.region, "encryption.type", "kms");
  }

  const os = c.objectStorage;
  switch (os.type) {
    case "aws":
      requireWhen(
        "objectStorage.s3.region",
        os.s3.region,
        "objectStorage.type",
        "aws",
      );
      break;
    case "minio":
      requireWhen(
        "objectStorage.s3.endpoint",
        os.s3.endpoint,
        "objectStorage.type",
        "minio",
        ", e.g. minio.example.com:9000",
      );
      requireWhen(
        "objectStorage.s3.accessKeyId",
        os.s3.accessKeyId,
        "objectStorage.type",
        "minio",
      );
      requireWhen(
        "objectStorage.s3.secretAccessKey",
        os.s3.secretAccessKey,
        "objectStorage.type",
        "minio",
      );
      break;
    case "gcp":
      requireWhen(
        "objectStorage.gcs.projectId",
        os.gcs.projectId,
        "objectStorage.type",
        "gcp",
      );
      break;
    case "azure":
      if (!os.azure.accountUrl && !os.azure.connectionString) {
        issues.push({
          key: "objectStorage.azure.accountUrl",
          related: [
            "objectStorage.type",
            "objectStorage.azure.connectionString",
          ],
          message: `required when ${nameOf("objectStorage.type")} is "azure" (or set ${nameOf("objectStorage.azure.connectionString")})`,
        });
      }
      break;
    case "filesystem":
      break;
  }

  // Buckets carry different retention; sharing one would let run-log expiry delete state.
  const seen = new Map<string, string>();
  for (const name of BUCKET_NAMES) {
    const key = `objectStorage.buckets.${name}`;
    const other = seen.get(os.buckets[name]);
    if (other)
      issues.push({
        key,
        related: [other],
        message: `must differ from ${nameOf(other)}: each bucket has its own retention`,
      });
    else seen.set(os.buckets[name], key);
  }
  return issues;
}

function bothOrNeither(
  issues: RuleIssue[],
  nameOf: (key: string) => string,
  [keyA, a]: [string, unknown],
  [keyB, b]: [string, unknown],
): void {
  if ((a === null) === (b === null)) return;
  const [missing, present] = a === null ? [keyA, keyB] : [keyB, keyA];
  issues.push({
    key: missing,
    related: [present],
    message: `required because ${nameOf(present)} is set (set both or neither)`,
  });
}
