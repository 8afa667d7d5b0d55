import { createPrivateKey } from "node:crypto";
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";
import { parseEgressAllowEntry } from "../http/egress.ts";

export const ROLES = ["api", "drain", "scheduler"] as const;
export type Role = (typeof ROLES)[number];

// Leaves accept both typed config.json values and environment strings, so numbers and
// booleans are coerced from strings here. Messages say what is expected; the caller
// appends where the value came from and what it was.

export const integer = (min: number, max: number, unit = "an integer") => {
  const error = `expected ${unit} between ${min} and ${max}`;
  return z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number({ error }).int({ error }).min(min, { error }).max(max, { error }),
  );
};

export const boolean = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    const s = v.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(s)) return true;
    if (["false", "0", "no", "off"].includes(s)) return false;
    return v;
  },
  z.boolean({ error: "expected true or false" }),
);

export const oneOf = <const T extends readonly [string, ...string[]]>(
  values: T,
) =>
  z.enum(values, {
    error: `expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}`,
  });

export const text = z
  .string({ error: "expected a string" })
  .min(1, { error: "must not be empty" });

export const absolutePath = text.refine((p) => path.isAbsolute(p), {
  error: "expected a path",
});

function parseUrl(value: string, protocols: readonly string[]): URL | null {
  try {
    const url = new URL(value);
    return protocols.includes(url.protocol) ? url : null;
  } catch {
    return null;
  }
}

const withoutTrailingSlash = (url: URL) => url.href.replace(/\/+$/, "");

export const httpUrl = text.transform((value, ctx) => {
  const url = parseUrl(value, ["http:", "https:"]);
  if (!url) {
    ctx.addIssue({
      code: "custom",
      message: "expected a URL starting with http:// or https://",
    });
    return z.NEVER;
  }
  return withoutTrailingSlash(url);
});

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
export const hostname = text.regex(HOSTNAME, {
  error:
    "expected a hostname without protocol, port or trailing slash, e.g. stackyard.example.com",
});

export const bindAddress = text.refine(
  (v) => isIP(v) !== 0 || HOSTNAME.test(v),
  {
    error: "expected an IP address (0.0.0.0, ::) or a hostname",
  },
);

/** The seed's `webhooks_endpoint` is a bare host ("webhooks.example.com"); that means https. */
export const webhooksEndpoint = z.preprocess(
  (v) =>
    typeof v === "string" && v !== "" && !v.includes("://")
      ? `https://${v}`
      : v,
  httpUrl,
);

export const databaseUrl = text.transform((value, ctx) => {
  const url = parseUrl(value, ["postgres:", "postgresql:"]);
  if (!url) {
    ctx.addIssue({
      code: "custom",
      message:
        "expected a postgres:// URL, e.g. postgres://user:password@db.example.com:5432/stackyard",
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
export const rsaPrivateKey = text.transform((value, ctx) => {
  const trimmed = value.trim();
  // A raw PEM is accepted too (handy with ENCRYPTION_RSA_PRIVATE_KEY_FILE); the config always holds base64.
  let pem = trimmed;
  let base64 = Buffer.from(trimmed).toString("base64");
  if (!trimmed.startsWith("-----BEGIN")) {
    base64 = trimmed.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      ctx.addIssue({
        code: "custom",
        message: `expected base64 of a PEM RSA private key (this is not base64); ${RSA_HOWTO}`,
      });
      return z.NEVER;
    }
    pem = Buffer.from(base64, "base64").toString("utf8");
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "rsa") {
      ctx.addIssue({
        code: "custom",
        message: `expected an RSA key, got a ${key.asymmetricKeyType ?? "unknown"} key; ${RSA_HOWTO}`,
      });
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

export const bucketName = text.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
  error:
    "expected a bucket name: 3-63 lowercase letters, digits, dots or hyphens",
});

export const expirationDays = integer(1, 3650, "a whole number of days");

export const mqttEndpoint = text.refine(
  (v) =>
    v.includes("://")
      ? parseUrl(v, [
          "mqtt:",
          "mqtts:",
          "tls:",
          "ssl:",
          "tcp:",
          "ws:",
          "wss:",
        ]) !== null
      : /^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(v),
  {
    error:
      "expected host[:port] or a URL such as mqtts://mqtt.example.com:1984",
  },
);

export const mqttNamespace = text.regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, {
  error:
    "expected letters, digits, '_' or '-' segments separated by '/' (no MQTT wildcards)",
});

export const roles = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z
    .array(oneOf(ROLES), {
      error: 'expected a list of roles, e.g. "api,drain,scheduler"',
    })
    .min(1, { error: "expected at least one of api, drain, scheduler" })
    .transform((list) => [...new Set(list)]),
);

/** Names proxy-addr (Fastify's trustProxy) accepts for address ranges. */
const PROXY_RANGE_NAMES = ["loopback", "linklocal", "uniquelocal"];

function isAddressOrCidr(v: string): boolean {
  if (PROXY_RANGE_NAMES.includes(v)) return true;
  const [address = "", prefix, ...rest] = v.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1;
  return bits >= 0 && bits <= (family === 4 ? 32 : 128);
}

/** Comma-separated (or a JSON array of) IP addresses, CIDRs or proxy-addr range names. */
export const trustedProxies = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(
    z.string().refine(isAddressOrCidr, {
      error:
        'expected IP addresses or CIDRs separated by commas, e.g. "10.0.0.0/8,127.0.0.1" (or loopback, linklocal, uniquelocal)',
    }),
    { error: "expected a comma-separated list of IP addresses or CIDRs" },
  ),
);

/** Installer rule: 2-38 characters, starting with a letter or digit. Validated, then ignored. */
export const accountNameSchema = z
  .string({ error: "expected a string" })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{1,37}$/, {
    error:
      "expected 2-38 characters: letters, digits, '_' or '-', starting with a letter or digit",
  });

export const ignoredExpirationDaysSchema = expirationDays;

const isHttpUrl = (v: string) => parseUrl(v, ["http:", "https:"]) !== null;

/** Drops "" and null recursively: the installer's config.json ships placeholders as "". */
function dropEmpty(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const inner = dropEmpty(v);
    if (inner === "" || inner === null || inner === undefined) continue;
    if (
      typeof inner === "object" &&
      !Array.isArray(inner) &&
      Object.keys(inner).length === 0
    )
      continue;
    out[k] = inner;
  }
  return out;
}

const optionalString = z.string({ error: "expected a string" }).optional();

export interface SsoConfig {
  type: "OIDC" | "SAML";
  /** Email of the user who becomes the first SSO admin (`sso_config.admin_login`). */
  adminLogin: string | null;
  oidc?: {
    clientId: string;
    clientCredentials: string;
    identityProviderHost: string;
  };
  /** `dynamic` true: `metadata` is the IdP metadata URL; false: it is the metadata XML itself. */
  saml?: {
    metadata: string;
    dynamic: boolean;
    nameIdFormat: "TRANSIENT" | "EMAIL_ADDRESS" | "PERMANENT";
  };
}

/** `sso_config` as the seed installer documents it, turned into SsoConfig (or null when unset). */
export const sso = z
  .preprocess(
    dropEmpty,
    z.object(
      {
        sso_type: oneOf(["OIDC", "SAML"]).optional(),
        admin_login: optionalString,
        update_on_install: boolean.optional(),
        oidc_args: z
          .object(
            {
              client_id: optionalString,
              client_credentials: optionalString,
              identity_provider_host: optionalString,
            },
            { error: "expected an object" },
          )
          .optional(),
        saml_args: z
          .object(
            {
              metadata: optionalString,
              dynamic: boolean.optional(),
              name_id_format: oneOf([
                "TRANSIENT",
                "EMAIL_ADDRESS",
                "PERMANENT",
              ]).optional(),
            },
            { error: "expected an object" },
          )
          .optional(),
      },
      { error: "expected an object" },
    ),
  )
  .transform((raw, ctx): SsoConfig | null => {
    const missing = (p: string[], message: string) =>
      ctx.addIssue({ code: "custom", path: p, message });
    if (!raw.sso_type) {
      if (Object.keys(raw).length > 0)
        missing(["sso_type"], 'required: "OIDC" or "SAML"');
      return null;
    }
    if (
      raw.admin_login !== undefined &&
      !/^[^@\s]+@[^@\s]+$/.test(raw.admin_login)
    ) {
      missing(
        ["admin_login"],
        "expected the email address of the first SSO admin",
      );
    }
    const base = { type: raw.sso_type, adminLogin: raw.admin_login ?? null };
    if (raw.sso_type === "OIDC") {
      const args = raw.oidc_args ?? {};
      for (const field of [
        "client_id",
        "client_credentials",
        "identity_provider_host",
      ] as const) {
        if (args[field] === undefined)
          missing(["oidc_args", field], 'required when sso_type is "OIDC"');
      }
      if (
        args.identity_provider_host !== undefined &&
        !isHttpUrl(args.identity_provider_host)
      ) {
        missing(
          ["oidc_args", "identity_provider_host"],
          "expected the IdP host with protocol, e.g. https://mycorp.okta.com",
        );
      }
      if (
        !args.client_id ||
        !args.client_credentials ||
        !args.identity_provider_host
      )
        return z.NEVER;
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
    if (args.dynamic === undefined)
      missing(
        ["saml_args", "dynamic"],
        'required when sso_type is "SAML": true or false',
      );
    if (args.metadata === undefined)
      missing(["saml_args", "metadata"], 'required when sso_type is "SAML"');
    if (
      args.metadata !== undefined &&
      args.dynamic === true &&
      !isHttpUrl(args.metadata)
    ) {
      missing(
        ["saml_args", "metadata"],
        "must be the URL of the IdP metadata when dynamic is true",
      );
    }
    if (
      args.metadata !== undefined &&
      args.dynamic === false &&
      !args.metadata.trimStart().startsWith("<")
    ) {
      missing(
        ["saml_args", "metadata"],
        "must be the IdP metadata XML when dynamic is false (escape the file with `jq -R -s .`), or set dynamic to true for a URL",
      );
    }
    if (args.metadata === undefined || args.dynamic === undefined)
      return z.NEVER;
    return {
      ...base,
      saml: {
        metadata: args.metadata,
        dynamic: args.dynamic,
        nameIdFormat: args.name_id_format ?? "TRANSIENT",
      },
    };
  });

export const resourceTags = z.array(
  z.strictObject(
    {
      key: z
        .string({ error: "expected a string" })
        .min(1, { error: "must not be empty" })
        .max(128, { error: "at most 128 characters" }),
      value: z
        .string({ error: "expected a string" })
        .max(256, { error: "at most 256 characters" }),
    },
    { error: 'expected an object {"key": "...", "value": "..."}' },
  ),
  { error: 'expected a list of {"key": "...", "value": "..."} objects' },
);

export const snsTopicArn = text.regex(
  /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$/,
  {
    error:
      "expected an SNS topic ARN, e.g. arn:aws:sns:eu-west-1:123456789012:alerts",
  },
);

/**
 * STACKYARD_EGRESS_ALLOW: hostnames, addresses or CIDRs, comma- or space-separated in
 * the environment, a list in config.json.
 */
export const egressAllowList = z.preprocess(
  (v) =>
    typeof v === "string" ? v.split(/[\s,]+/).filter((s) => s.length > 0) : v,
  z
    .array(z.string({ error: "expected a string" }), {
      error:
        'expected a list of hosts or CIDRs, e.g. "127.0.0.1/32,gitlab.internal"',
    })
    .superRefine((entries, ctx) => {
      for (const entry of entries) {
        const parsed = parseEgressAllowEntry(entry);
        if (typeof parsed === "string")
          ctx.addIssue({ code: "custom", message: parsed });
      }
    }),
);
