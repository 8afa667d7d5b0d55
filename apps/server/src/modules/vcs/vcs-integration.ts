import { z } from "zod";
import { ValidationError } from "../../platform/errors.ts";
import { trimTrailing } from "../../platform/text.ts";
import type { VcsIntegration, VcsProviderKind } from "./provider.ts";

/**
 * VCS integrations as stored and as shown: inputs, validation and the public view. A view
 * never carries a secret (private key, token, webhook secret); only `hasWebhookSecret` /
 * `hasCredentials` say whether one is set. No I/O here.
 */

export type VcsChecksMode = "INDIVIDUAL" | "AGGREGATED";

/** What the API returns: settings without secrets. */
export interface VcsIntegrationView {
  id: string;
  name: string;
  provider: VcsProviderKind;
  spaceId: string;
  isDefault: boolean;
  labels: string[];
  description: string | null;
  checks: VcsChecksMode;
  apiUrl: string | null;
  gitUrl: string | null;
  appId: string | null;
  hasWebhookSecret: boolean;
  hasCredentials: boolean;
  /** `<webhooks_endpoint>/webhooks/<name>`; null for raw git (no webhooks). */
  webhookUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A stored integration with its secrets decrypted: for adapters, never for the API. */
export interface VcsIntegrationRecord extends VcsIntegration {
  checks: VcsChecksMode;
  createdAt: Date;
  updatedAt: Date;
}

/** Names form webhook URLs: URL-safe, and they never change. */
export const INTEGRATION_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const PROVIDER_DEFAULTS = {
  GITHUB: { apiUrl: "https://api.github.com", gitUrl: "https://github.com" },
  GITLAB: { apiUrl: "https://gitlab.com/api/v4", gitUrl: "https://gitlab.com" },
} as const;

const trimmedOrNull = z
  .string()
  .nullish()
  .transform((v) => (v?.trim() ? v.trim() : null));
const trimmedUrl = z
  .string()
  .trim()
  .nullish()
  .transform((v) => (v ? trimTrailing(v, "/") : null));
const url = trimmedUrl.refine(
  (v) => v === null || /^https?:\/\/[^\s]+$/.test(v),
  { error: "must be an http(s) URL such as https://github.example.com" },
);
/**
 * Where clones come from: the provider's http(s) base, or `file:///dir`, a local
 * directory of bare repositories `<namespace>/<name>.git` (an air-gapped mirror).
 */
const gitUrl = trimmedUrl.refine(
  (v) => v === null || /^(https?:\/\/[^\s]+|file:\/\/\/[^\s]*)$/.test(v),
  {
    error:
      "must be an http(s) URL such as https://github.example.com, or file:///path for a local directory of bare repositories",
  },
);
/** Write-only: null or "" keeps the stored value on update. */
const secret = z
  .string()
  .nullish()
  .transform((v) => (v ? v : null));
const labels = z
  .array(z.string().trim().min(1, { error: "labels must not be empty" }))
  .nullish()
  .transform((v) => v ?? [])
  .refine((v) => new Set(v).size === v.length, {
    error: "labels must be unique",
  });

const commonFields = {
  space: trimmedOrNull,
  isDefault: z.boolean().nullish(),
  labels,
  description: trimmedOrNull,
  checks: z.enum(["INDIVIDUAL", "AGGREGATED"]).nullish(),
  apiUrl: url,
  gitUrl,
  appId: trimmedOrNull,
  privateKey: secret,
  token: secret,
  webhookSecret: secret,
};

export const integrationCreateSchema = z.object({
  name: z.string().trim().regex(INTEGRATION_NAME_PATTERN, {
    error:
      "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit (it forms the webhook URL)",
  }),
  provider: z.enum(["GITHUB", "GITLAB", "RAW_GIT"]),
  ...commonFields,
});
export type IntegrationCreateInput = z.input<typeof integrationCreateSchema>;
export type IntegrationCreate = z.output<typeof integrationCreateSchema>;

export const integrationUpdateSchema = z.object(commonFields);
export type IntegrationUpdateInput = z.input<typeof integrationUpdateSchema>;
export type IntegrationUpdate = z.output<typeof integrationUpdateSchema>;

/** Non-secret settings as stored in `vcs_integrations.settings`. */
export interface StoredSettings {
  apiUrl?: string;
  gitUrl?: string;
  appId?: string;
}

/** Secret settings as stored (encrypted JSON) in `vcs_integrations.secrets_encrypted`. */
export interface StoredSecrets {
  privateKeyPem?: string;
  token?: string;
  webhookSecret?: string;
}

/**
 * Merges an input over the stored settings and checks that the provider has what it
 * needs: GitHub an app id, a PEM private key and a webhook secret; GitLab a token and a
 * webhook secret; raw git nothing (and accepts no credentials).
 */
export function mergeSettings(
  label: string,
  provider: VcsProviderKind,
  input: IntegrationUpdate,
  current: { settings: StoredSettings; secrets: StoredSecrets },
): { settings: StoredSettings; secrets: StoredSecrets } {
  const problems: string[] = [];
  if (provider === "RAW_GIT") {
    for (const f of [
      "apiUrl",
      "gitUrl",
      "appId",
      "privateKey",
      "token",
      "webhookSecret",
    ] as const) {
      if (input[f] !== null)
        problems.push(
          `${label}.${f}: raw git integrations take no provider settings (they poll public or local repositories)`,
        );
    }
    if (problems.length) throw new ValidationError(problems.join("; "));
    return { settings: {}, secrets: {} };
  }
  const defaults = PROVIDER_DEFAULTS[provider];
  const settings: StoredSettings = {
    apiUrl: input.apiUrl ?? current.settings.apiUrl ?? defaults.apiUrl,
    gitUrl: input.gitUrl ?? current.settings.gitUrl ?? defaults.gitUrl,
  };
  const secrets: StoredSecrets = {
    webhookSecret: input.webhookSecret ?? current.secrets.webhookSecret,
  };
  if (!secrets.webhookSecret)
    problems.push(
      `${label}.webhookSecret: required; the same secret is configured on the ${provider === "GITHUB" ? "GitHub App" : "GitLab webhook"}`,
    );
  if (provider === "GITHUB") {
    settings.appId = input.appId ?? current.settings.appId;
    secrets.privateKeyPem = input.privateKey ?? current.secrets.privateKeyPem;
    if (input.token !== null)
      problems.push(
        `${label}.token: GitHub integrations authenticate as a GitHub App (appId and privateKey), not with a token`,
      );
    if (!settings.appId || !/^[0-9]+$/.test(settings.appId))
      problems.push(`${label}.appId: required, the GitHub App's numeric id`);
    if (!secrets.privateKeyPem)
      problems.push(
        `${label}.privateKey: required, the GitHub App's private key (PEM)`,
      );
    else if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secrets.privateKeyPem))
      problems.push(
        `${label}.privateKey: must be a PEM private key ("-----BEGIN RSA PRIVATE KEY-----…")`,
      );
  } else {
    secrets.token = input.token ?? current.secrets.token;
    for (const f of ["appId", "privateKey"] as const) {
      if (input[f] !== null)
        problems.push(
          `${label}.${f}: GitLab integrations authenticate with a token, not a GitHub App`,
        );
    }
    if (!secrets.token)
      problems.push(
        `${label}.token: required, a GitLab access token with the api scope`,
      );
  }
  if (problems.length) throw new ValidationError(problems.join("; "));
  return { settings, secrets };
}

/** The adapter-facing settings union from stored parts. */
export function providerSettings(
  provider: VcsProviderKind,
  settings: StoredSettings,
  secrets: StoredSecrets,
): VcsIntegration["settings"] {
  if (provider === "GITHUB")
    return {
      kind: "GITHUB",
      apiUrl: settings.apiUrl ?? PROVIDER_DEFAULTS.GITHUB.apiUrl,
      gitUrl: settings.gitUrl ?? PROVIDER_DEFAULTS.GITHUB.gitUrl,
      appId: settings.appId ?? "",
      privateKeyPem: secrets.privateKeyPem ?? "",
      webhookSecret: secrets.webhookSecret ?? "",
    };
  if (provider === "GITLAB")
    return {
      kind: "GITLAB",
      apiUrl: settings.apiUrl ?? PROVIDER_DEFAULTS.GITLAB.apiUrl,
      gitUrl: settings.gitUrl ?? PROVIDER_DEFAULTS.GITLAB.gitUrl,
      token: secrets.token ?? "",
      webhookSecret: secrets.webhookSecret ?? "",
    };
  return { kind: "RAW_GIT" };
}

/**
 * The integration kind a stack's `provider` field maps to (Spacelift's VCSProvider enum):
 * GitHub and GitHub Enterprise stacks use GitHub integrations, GitLab stacks GitLab ones,
 * GIT stacks are raw git. Other providers have no integration here (null).
 */
export function integrationKindOfStackProvider(
  provider: string,
): VcsProviderKind | null {
  switch (provider) {
    case "GITHUB":
    case "GITHUB_ENTERPRISE":
      return "GITHUB";
    case "GITLAB":
      return "GITLAB";
    case "GIT":
      return "RAW_GIT";
    default:
      return null;
  }
}

/** Stack providers that belong to an integration kind (inverse of the above). */
export function stackProvidersOf(kind: VcsProviderKind): string[] {
  return kind === "GITHUB"
    ? ["GITHUB", "GITHUB_ENTERPRISE"]
    : kind === "GITLAB"
      ? ["GITLAB"]
      : ["GIT"];
}

export function webhookUrlOf(webhooksEndpoint: string, name: string): string {
  return `${webhooksEndpoint.replace(/\/+$/, "")}/webhooks/${encodeURIComponent(name)}`;
}
