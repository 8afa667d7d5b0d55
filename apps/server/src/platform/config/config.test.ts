import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderConfigDocs } from "./config-docs.ts";
import {
  ConfigError,
  configReference,
  describeEffectiveConfig,
  formatConfigIssues,
  loadConfig,
  validateConfig,
  type ConfigIssue,
  type ConfigSources,
} from "./index.ts";

const repoRoot = fileURLToPath(new URL("../../../../../", import.meta.url));
const fixture = (name: string) =>
  path.join(repoRoot, "apps/server/test/fixtures/config", name);
const cwd = mkdtempSync(path.join(tmpdir(), "stackyard-config-"));

const validate = (sources: ConfigSources) =>
  validateConfig({ env: {}, cwd, ...sources });

function issuesOf(sources: ConfigSources): ConfigIssue[] {
  const result = validate(sources);
  if (result.ok) throw new Error("expected the config to be invalid");
  return result.issues;
}

function issueAt(issues: ConfigIssue[], p: string): ConfigIssue {
  const found = issues.find((i) => i.path === p);
  if (!found)
    throw new Error(`no issue at ${p}; got:\n${formatConfigIssues(issues)}`);
  return found;
}

function writeTemp(name: string, content: string): string {
  const file = path.join(
    mkdtempSync(path.join(tmpdir(), "stackyard-config-")),
    name,
  );
  writeFileSync(file, content);
  return file;
}

const rsaKeyBase64 = () => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return Buffer.from(
    privateKey.export({ type: "pkcs1", format: "pem" }),
  ).toString("base64");
};

describe("defaults", () => {
  it("runs with no configuration at all, every path absolute, frozen", () => {
    const config = loadConfig({ env: {}, cwd });
    expect(config.dataDir).toBe(path.join(cwd, ".stackyard"));
    expect(config.configFile).toBeNull();
    expect(config.server).toEqual({
      hostname: "localhost",
      port: 1983,
      bindAddress: "0.0.0.0",
      publicUrl: "http://localhost:1983",
      webhooksEndpoint: "http://localhost:1983",
      roles: ["api", "drain", "scheduler"],
      trustedProxies: [],
      healthPort: null,
    });
    expect(config.policies.opaMemoryLimitMiB).toBe(1024);
    expect(config.database).toEqual({ url: null, poolSize: 10 });
    expect(config.objectStorage.type).toBe("filesystem");
    expect(config.objectStorage.directory).toBe(
      path.join(cwd, ".stackyard", "objects"),
    );
    expect(config.objectStorage.buckets.userUploadedWorkspaces).toBe(
      "user-uploaded-workspaces",
    );
    expect(config.objectStorage.expirationDays).toEqual({
      runLogs: 60,
      deliveries: 1,
      largeQueueMessages: 2,
      metadata: 2,
      policyInputs: 7,
      uploads: 1,
      userUploadedWorkspaces: 1,
      workspaces: 7,
    });
    expect(config.messageQueue.type).toBe("postgres");
    expect(config.mqtt).toMatchObject({
      type: "builtin",
      port: 1984,
      endpoint: "mqtt://localhost:1984",
      namespace: "stackyard",
      logLevel: "error",
    });
    expect(config.encryption).toEqual({
      type: "rsa",
      rsaPrivateKey: null,
      kms: { encryptionKeyId: null, signingKeyId: null, region: null },
    });
    expect(config.sso).toBeNull();
    expect(config.log).toEqual({ level: "info", format: "auto" });
    expect(config.queue).toEqual({ concurrency: 5, pollIntervalMs: 1000 });
    expect(config.workers.heartbeatTimeoutSeconds).toBe(60);
    expect(Object.isFrozen(config.server.roles)).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it("reads the environment only through sources.env when it is given", () => {
    process.env["STACKYARD_PORT"] = "not-a-port";
    try {
      expect(loadConfig({ env: {}, cwd }).server.port).toBe(1983);
    } finally {
      delete process.env["STACKYARD_PORT"];
    }
  });
});

describe("seed-style config.json files that are valid", () => {
  it("minimal: only the hostname", () => {
    const config = loadConfig({
      env: {},
      cwd,
      configFile: fixture("valid-minimal.json"),
    });
    expect(config.configFile).toBe(fixture("valid-minimal.json"));
    expect(config.server.hostname).toBe("stackyard.example.com");
    expect(config.server.publicUrl).toBe("http://stackyard.example.com:1983");
    expect(config.mqtt.endpoint).toBe("mqtt://stackyard.example.com:1984");
  });

  it("full OIDC installer file: AWS-only fields ignored, sso mapped, connection string cleaned", () => {
    const config = loadConfig({
      env: {},
      cwd,
      configFile: fixture("valid-oidc.json"),
    });
    expect(config.server.webhooksEndpoint).toBe(
      "https://webhooks.spacelift.mycorp.com",
    );
    expect(config.database.url).toBe(
      "postgres://spacelift:pw@db.mycorp.internal:5432/spacelift",
    );
    expect(config.sso).toEqual({
      type: "OIDC",
      adminLogin: "admin@mycorp.com",
      oidc: {
        clientId: "0oa1b2c3d4",
        clientCredentials: "oidc-client-secret-value",
        identityProviderHost: "https://mycorp.okta.com",
      },
    });
    expect(config.alerting.snsTopicArn).toBeNull();
    expect(config.automaticallyReportUsageData).toBe(true);
  });

  it("full SAML installer file with JSON-escaped metadata XML", () => {
    const config = loadConfig({
      env: {},
      cwd,
      configFile: fixture("valid-saml.json"),
    });
    expect(config.sso?.type).toBe("SAML");
    expect(config.sso?.saml?.dynamic).toBe(false);
    expect(config.sso?.saml?.nameIdFormat).toBe("EMAIL_ADDRESS");
    expect(config.sso?.saml?.metadata).toMatch(
      /^<\?xml version="1.0" encoding="utf-8"\?><EntityDescriptor ID="_90756ab2"/,
    );
  });

  it("s3_config expiration days map onto the buckets", () => {
    const config = loadConfig({
      env: {},
      cwd,
      configFile: fixture("valid-s3-config.json"),
    });
    expect(config.objectStorage.expirationDays).toEqual({
      runLogs: 90,
      deliveries: 3,
      largeQueueMessages: 2,
      metadata: 2,
      policyInputs: 120,
      uploads: 1,
      userUploadedWorkspaces: 1,
      workspaces: 90,
    });
  });

  it("global_resource_tags and alerting", () => {
    const config = loadConfig({
      env: {},
      cwd,
      configFile: fixture("valid-global-tags.json"),
    });
    expect(config.globalResourceTags).toEqual([
      { key: "selfhost", value: "spacelift" },
      { key: "team", value: "platform" },
    ]);
    expect(config.alerting.snsTopicArn).toBe(
      "arn:aws:sns:eu-west-1:123456789012:spacelift-alerts",
    );
  });

  it("Stackyard's own keys; relative paths resolve against the config file's directory", () => {
    const config = loadConfig({
      env: {},
      cwd,
      configFile: fixture("valid-stackyard-keys.json"),
    });
    expect(config.dataDir).toBe(fixture("data"));
    expect(config.server).toMatchObject({
      hostname: "stackyard.internal",
      port: 8080,
      roles: ["api", "drain"],
    });
    expect(config.database).toEqual({
      url: "postgresql://stackyard@localhost:5432/stackyard",
      poolSize: 20,
    });
    expect(config.objectStorage.buckets.states).toBe("tf-states");
    expect(config.objectStorage.s3).toEqual({
      region: null,
      endpoint: "http://minio.internal:9000",
      forcePathStyle: true,
      accessKeyId: "minio",
      secretAccessKey: "minio-secret-key",
      allowInsecure: false,
    });
    expect(config.mqtt).toMatchObject({
      port: 8883,
      namespace: "acme/stackyard",
      endpoint: "mqtt://stackyard.internal:8883",
    });
    expect(config.log).toEqual({ level: "debug", format: "json" });
    expect(config.queue).toEqual({ concurrency: 10, pollIntervalMs: 250 });
  });
});

describe("seed-style config.json files that are invalid", () => {
  it("bad account_name", () => {
    const issue = issueAt(
      issuesOf({ configFile: fixture("invalid-account-name.json") }),
      "account_name",
    );
    expect(issue).toMatchObject({
      source: "config.json",
      value: '"-my corp!"',
    });
    expect(issue.message).toMatch(/2-38 characters/);
  });

  it("OIDC without client_id", () => {
    const issue = issueAt(
      issuesOf({ configFile: fixture("invalid-oidc-missing-client-id.json") }),
      "sso_config.oidc_args.client_id",
    );
    expect(issue.message).toBe('required when sso_type is "OIDC"');
  });

  it("SAML with dynamic=true and metadata that is not a URL", () => {
    const issue = issueAt(
      issuesOf({ configFile: fixture("invalid-saml-dynamic-metadata.json") }),
      "sso_config.saml_args.metadata",
    );
    expect(issue.message).toMatch(
      /URL of the IdP metadata when dynamic is true/,
    );
  });

  it("negative expiration days", () => {
    const issue = issueAt(
      issuesOf({ configFile: fixture("invalid-expiration-days.json") }),
      "s3_config.run_logs_expiration_days",
    );
    expect(issue).toMatchObject({
      value: "-5",
      message: "expected a whole number of days between 1 and 3650",
    });
  });

  it("a typo in a field name suggests the real one", () => {
    const issues = issuesOf({
      configFile: fixture("invalid-unknown-key.json"),
    });
    expect(issues).toEqual([
      {
        source: "config.json",
        path: "webhook_endpoint",
        value: "",
        message: 'unknown field; did you mean "webhooks_endpoint"?',
      },
    ]);
  });

  it("a typo inside sso_config is caught too", () => {
    const file = writeTemp(
      "config.json",
      JSON.stringify({
        sso_config: { sso_type: "OIDC", oidc_args: { clientid: "x" } },
      }),
    );
    expect(
      issueAt(issuesOf({ configFile: file }), "sso_config.oidc_args.clientid")
        .message,
    ).toBe('unknown field; did you mean "client_id"?');
  });

  it("invalid JSON is one issue naming the file, line and column", () => {
    const file = writeTemp(
      "config.json",
      '{\n  "spacelift_hostname": "spacelift.mycorp.com"\n  "webhooks_endpoint": "webhooks.mycorp.com"\n}\n',
    );
    const issues = issuesOf({
      configFile: file,
      env: { ENCRYPTION_TYPE: "kms" },
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ source: "config.json", path: file });
    expect(issues[0]?.message).toMatch(/^invalid JSON at line 3, column 3: /);
  });

  it("a missing file is one issue naming the file", () => {
    const missing = path.join(cwd, "nope.json");
    expect(issuesOf({ configFile: "nope.json" })).toEqual([
      {
        source: "config.json",
        path: missing,
        value: "",
        message: "cannot read the config file: file not found",
      },
    ]);
    expect(issuesOf({ env: { STACKYARD_CONFIG_FILE: missing } })[0]?.path).toBe(
      missing,
    );
  });

  it("iotcore broker with the postgres queue", () => {
    const issue = issueAt(
      issuesOf({
        configFile: fixture("invalid-iotcore-with-postgres-queue.json"),
      }),
      "mqtt_broker.type",
    );
    expect(issue.value).toBe('"iotcore"');
    expect(issue.message).toMatch(/requires message_queue\.type to be "sqs"/);
  });

  it("kms without a signing key", () => {
    const issues = issuesOf({
      configFile: fixture("invalid-kms-without-signing-key.json"),
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      source: "default",
      path: "ENCRYPTION_KMS_SIGNING_KEY_ID",
    });
    expect(issues[0]?.message).toMatch(
      /^required when encryption\.type is "kms"/,
    );
  });
});

describe("environment and flags", () => {
  it("rejects a non-numeric STACKYARD_PORT with a message saying what is expected", () => {
    const issues = issuesOf({ env: { STACKYARD_PORT: "abc" } });
    expect(formatConfigIssues(issues)).toBe(
      'environment STACKYARD_PORT: expected an integer between 1 and 65535 (got "abc")',
    );
  });

  it("rejects the same port for HTTP and the builtin MQTT broker", () => {
    const issue = issueAt(
      issuesOf({ env: { STACKYARD_PORT: "1984" } }),
      "STACKYARD_MQTT_PORT",
    );
    expect(issue.message).toMatch(
      /must differ from the HTTP port STACKYARD_PORT \(both are 1984\)/,
    );
    expect(
      validate({
        env: {
          STACKYARD_PORT: "1984",
          MQTT_BROKER_TYPE: "external",
          MQTT_BROKER_ENDPOINT: "mqtts://mq:8883",
        },
      }).ok,
    ).toBe(true);
  });

  it("rejects an RSA key that is not base64, or not an RSA private key, and accepts a real one", () => {
    const notBase64 = issueAt(
      issuesOf({ env: { ENCRYPTION_RSA_PRIVATE_KEY: "not base64!" } }),
      "ENCRYPTION_RSA_PRIVATE_KEY",
    );
    expect(notBase64.message).toMatch(/openssl genrsa 4096 \| base64 -w0/);
    expect(notBase64.value).toBe("<redacted>");

    const notPem = Buffer.from("hello world").toString("base64");
    expect(
      issueAt(
        issuesOf({ env: { ENCRYPTION_RSA_PRIVATE_KEY: notPem } }),
        "ENCRYPTION_RSA_PRIVATE_KEY",
      ).message,
    ).toMatch(/does not decode to one/);

    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const ecKey = Buffer.from(
      privateKey.export({ type: "pkcs8", format: "pem" }),
    ).toString("base64");
    expect(
      issueAt(
        issuesOf({ env: { ENCRYPTION_RSA_PRIVATE_KEY: ecKey } }),
        "ENCRYPTION_RSA_PRIVATE_KEY",
      ).message,
    ).toMatch(/expected an RSA key, got a ec key/);

    const good = rsaKeyBase64();
    expect(
      loadConfig({ env: { ENCRYPTION_RSA_PRIVATE_KEY: good }, cwd }).encryption
        .rsaPrivateKey,
    ).toBe(good);
  });

  it("reads a secret from <NAME>_FILE, normalising a raw PEM key to base64", () => {
    const good = rsaKeyBase64();
    const pem = Buffer.from(good, "base64").toString("utf8");
    const config = loadConfig({
      env: {
        ENCRYPTION_RSA_PRIVATE_KEY_FILE: writeTemp("key.pem", pem),
        ADMIN_USERNAME: "admin",
        ADMIN_PASSWORD_FILE: writeTemp("pw", "a-long-admin-password\n"),
      },
      cwd,
    });
    expect(
      Buffer.from(config.encryption.rsaPrivateKey ?? "", "base64").toString(
        "utf8",
      ),
    ).toBe(pem.trim());
    expect(config.admin).toEqual({
      username: "admin",
      password: "a-long-admin-password",
    });
  });

  it("coerces booleans and lists from strings", () => {
    const config = loadConfig({
      env: {
        STACKYARD_ROLES: "drain, scheduler,drain",
        OBJECT_STORAGE_TYPE: "aws",
        AWS_REGION: "eu-west-1",
        STACKYARD_S3_FORCE_PATH_STYLE: "yes",
      },
      cwd,
    });
    expect(config.server.roles).toEqual(["drain", "scheduler"]);
    expect(config.objectStorage.s3).toMatchObject({
      region: "eu-west-1",
      forcePathStyle: true,
    });
    expect(
      issueAt(
        issuesOf({ env: { STACKYARD_ROLES: "api,web" } }),
        "STACKYARD_ROLES",
      ).message,
    ).toBe('expected one of "api", "drain", "scheduler"');
  });

  it("reads STACKYARD_TRUSTED_PROXIES as addresses and CIDRs, naming a bad entry", () => {
    const config = loadConfig({
      env: {
        STACKYARD_TRUSTED_PROXIES: "10.0.0.0/8, 127.0.0.1,fd00::/8,loopback",
      },
      cwd,
    });
    expect(config.server.trustedProxies).toEqual([
      "10.0.0.0/8",
      "127.0.0.1",
      "fd00::/8",
      "loopback",
    ]);
    for (const bad of ["10.0.0.0/33", "proxy.example.com", "10.0.0.1/8/1"])
      expect(
        issueAt(
          issuesOf({ env: { STACKYARD_TRUSTED_PROXIES: `127.0.0.1,${bad}` } }),
          "STACKYARD_TRUSTED_PROXIES",
        ).message,
      ).toContain("expected IP addresses or CIDRs");
  });

  it("strips Spacelift's statement_cache_capacity and keeps the rest of DATABASE_URL", () => {
    const config = loadConfig({
      env: {
        DATABASE_URL:
          "postgres://u:p%40ss@db:5432/app?sslmode=require&statement_cache_capacity=0",
      },
      cwd,
    });
    expect(config.database.url).toBe(
      "postgres://u:p%40ss@db:5432/app?sslmode=require",
    );
  });

  it("requires every SQS queue URL when MESSAGE_QUEUE_TYPE=sqs", () => {
    const issues = issuesOf({
      env: {
        MESSAGE_QUEUE_TYPE: "sqs",
        MESSAGE_QUEUE_SQS_ASYNC_URL:
          "https://sqs.eu-west-1.amazonaws.com/1/async",
      },
    });
    expect(issues.map((i) => i.path)).toEqual([
      "MESSAGE_QUEUE_SQS_ASYNC_FIFO_URL",
      "MESSAGE_QUEUE_SQS_CRONJOBS_URL",
      "MESSAGE_QUEUE_SQS_DLQ_URL",
      "MESSAGE_QUEUE_SQS_DLQ_FIFO_URL",
      "MESSAGE_QUEUE_SQS_EVENTS_INBOX_URL",
      "MESSAGE_QUEUE_SQS_IOT_URL",
      "MESSAGE_QUEUE_SQS_WEBHOOKS_URL",
    ]);
  });

  it("requires the settings of each object storage backend", () => {
    expect(
      issuesOf({ env: { OBJECT_STORAGE_TYPE: "minio" } }).map((i) => i.path),
    ).toEqual([
      "OBJECT_STORAGE_MINIO_ENDPOINT",
      "OBJECT_STORAGE_MINIO_ACCESS_KEY_ID",
      "OBJECT_STORAGE_MINIO_SECRET_ACCESS_KEY",
    ]);
    expect(
      issuesOf({ env: { OBJECT_STORAGE_TYPE: "azure" } }).map((i) => i.path),
    ).toEqual(["OBJECT_STORAGE_AZURE_ACCOUNT_URL"]);
    expect(
      validate({
        env: {
          OBJECT_STORAGE_TYPE: "azure",
          STACKYARD_AZURE_CONNECTION_STRING: "UseDevelopmentStorage=true",
        },
      }).ok,
    ).toBe(true);
    expect(
      issuesOf({ env: { OBJECT_STORAGE_TYPE: "gcp" } }).map((i) => i.path),
    ).toEqual(["GCP_PROJECT"]);
    expect(
      issuesOf({ env: { OBJECT_STORAGE_BUCKET_RUN_LOGS: "states" } }).map(
        (i) => i.path,
      ),
    ).toEqual(["OBJECT_STORAGE_BUCKET_STATES"]);
  });

  it("requires both admin credentials or neither", () => {
    expect(
      issueAt(issuesOf({ env: { ADMIN_USERNAME: "admin" } }), "ADMIN_PASSWORD")
        .message,
    ).toBe("required because ADMIN_USERNAME is set (set both or neither)");
  });
});

describe("redaction", () => {
  it("never prints a bad ADMIN_PASSWORD, DATABASE_URL password or OIDC client secret", () => {
    const password = "hunter2";
    const dbPassword = "Sup3rS3cretDbPw";
    const file = writeTemp(
      "config.json",
      JSON.stringify({
        sso_config: {
          sso_type: "OIDC",
          oidc_args: {
            client_id: "id",
            client_credentials: 12345678,
            identity_provider_host: "https://idp",
          },
        },
      }),
    );
    const sources = {
      env: {
        ADMIN_USERNAME: "admin",
        ADMIN_PASSWORD: password,
        DATABASE_URL: `mysql://app:${dbPassword}@db/app`,
      },
      cwd,
      configFile: file,
    };
    const issues = issuesOf(sources);
    const output = formatConfigIssues(issues);
    expect(issueAt(issues, "ADMIN_PASSWORD").value).toBe("<redacted>");
    expect(issueAt(issues, "DATABASE_URL").value).toBe(
      '"mysql://app:<redacted>@db/app"',
    );
    expect(
      issueAt(issues, "sso_config.oidc_args.client_credentials").value,
    ).toBe("<redacted>");
    expect(output).not.toContain(password);
    expect(output).not.toContain(dbPassword);
    expect(output).not.toContain("12345678");
    expect(() => loadConfig(sources)).toThrow(ConfigError);
    try {
      loadConfig(sources);
    } catch (err) {
      expect((err as ConfigError).message).not.toContain(password);
      expect((err as ConfigError).message).not.toContain(dbPassword);
    }
  });

  it("describeEffectiveConfig hides secrets but keeps the rest", () => {
    const config = loadConfig({
      env: {
        DATABASE_URL: "postgres://app:dbpw@db/app",
        ADMIN_USERNAME: "admin",
        ADMIN_PASSWORD: "a-long-admin-password",
        ENCRYPTION_RSA_PRIVATE_KEY: rsaKeyBase64(),
      },
      cwd,
      configFile: fixture("valid-oidc.json"),
    });
    const described = describeEffectiveConfig(config);
    const text = JSON.stringify(described);
    expect(text).not.toContain("dbpw");
    expect(text).not.toContain("a-long-admin-password");
    expect(text).not.toContain("oidc-client-secret-value");
    expect(text).not.toContain(config.encryption.rsaPrivateKey);
    expect(described).toMatchObject({
      database: { url: "postgres://app:<redacted>@db/app" },
      admin: { username: "admin", password: "<redacted>" },
      encryption: { rsaPrivateKey: "<redacted>" },
    });
    expect(config.admin.password).toBe("a-long-admin-password");
  });
});

describe("priority: defaults < config.json < environment < flags", () => {
  const file = () => fixture("valid-stackyard-keys.json");

  it("uses config.json over defaults", () => {
    expect(loadConfig({ env: {}, cwd, configFile: file() }).server.port).toBe(
      8080,
    );
  });

  it("environment beats the file", () => {
    const config = loadConfig({
      env: { STACKYARD_PORT: "9090", SERVER_DOMAIN: "env.example.com" },
      cwd,
      configFile: file(),
    });
    expect(config.server.port).toBe(9090);
    expect(config.server.hostname).toBe("env.example.com");
    expect(config.database.poolSize).toBe(20);
  });

  it("a flag beats the environment", () => {
    const config = loadConfig({
      env: {
        STACKYARD_PORT: "9090",
        STACKYARD_DATA_DIR: "/srv/env",
        STACKYARD_ROLES: "api",
      },
      cwd,
      configFile: file(),
      flags: { port: 7070, dataDir: "flag-dir", roles: ["drain,scheduler"] },
    });
    expect(config.server.port).toBe(7070);
    expect(config.dataDir).toBe(path.join(cwd, "flag-dir"));
    expect(config.server.roles).toEqual(["drain", "scheduler"]);
  });

  it("an invalid flag is reported as a flag", () => {
    expect(
      issueAt(issuesOf({ flags: { mqttPort: 70000 } }), "--mqtt-port"),
    ).toMatchObject({ source: "flag", value: "70000" });
  });
});

describe("reporting", () => {
  it("lists every problem at once, from every source", () => {
    const file = writeTemp(
      "config.json",
      JSON.stringify({
        account_name: "x",
        s3_config: { run_logs_expiration_days: 0 },
      }),
    );
    const sources: ConfigSources = {
      env: {
        STACKYARD_PORT: "abc",
        ENCRYPTION_TYPE: "kms",
        ADMIN_USERNAME: "root",
        STACKYARD_LOG_LEVEL: "verbose",
      },
      cwd,
      configFile: file,
      flags: { mqttPort: 0 },
    };
    let error: unknown;
    try {
      loadConfig(sources);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => `${i.source} ${i.path}`).sort()).toEqual(
      [
        "config.json account_name",
        "config.json s3_config.run_logs_expiration_days",
        "environment STACKYARD_PORT",
        "environment STACKYARD_LOG_LEVEL",
        "flag --mqtt-port",
        "default ENCRYPTION_KMS_ENCRYPTION_KEY_ID",
        "default ENCRYPTION_KMS_SIGNING_KEY_ID",
        "default ENCRYPTION_KMS_REGION",
        "default ADMIN_PASSWORD",
      ].sort(),
    );
    expect((error as ConfigError).message).toContain(
      "invalid configuration (9 problems):",
    );
    expect((error as ConfigError).message.split("\n")).toHaveLength(10);
  });
});

describe("docs/configuration.md", () => {
  it("documents every setting with a default and a description", () => {
    for (const entry of configReference) {
      expect(entry.default, JSON.stringify(entry)).not.toBe("");
      expect(entry.description, JSON.stringify(entry)).not.toBe("");
      expect(entry.env.length > 0 || entry.configJson !== undefined).toBe(true);
    }
  });

  it("matches the generator output (run `node --import tsx scripts/gen-config-docs.ts`)", async () => {
    expect(
      readFileSync(path.join(repoRoot, "docs/configuration.md"), "utf8"),
    ).toBe(await renderConfigDocs());
  });
});

describe("AWS endpoint override", () => {
  it("is unset by default, read from STACKYARD_AWS_ENDPOINT_URL first, then AWS_ENDPOINT_URL", () => {
    expect(loadConfig({ env: {}, cwd }).aws.endpointUrl).toBeNull();
    expect(
      loadConfig({ env: { AWS_ENDPOINT_URL: "http://aws.local:4566" }, cwd })
        .aws.endpointUrl,
    ).toBe("http://aws.local:4566");
    expect(
      loadConfig({
        env: {
          STACKYARD_AWS_ENDPOINT_URL: "http://stackyard.local:4566",
          AWS_ENDPOINT_URL: "http://aws.local:4566",
        },
        cwd,
      }).aws.endpointUrl,
    ).toBe("http://stackyard.local:4566");
  });

  it("must be an http(s) URL", () => {
    expect(
      issueAt(
        issuesOf({ env: { STACKYARD_AWS_ENDPOINT_URL: "not a url" } }),
        "STACKYARD_AWS_ENDPOINT_URL",
      ).source,
    ).toBe("environment");
  });
});
