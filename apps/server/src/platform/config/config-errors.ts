import { AppError } from "../errors.ts";

export type ConfigSource = "config.json" | "environment" | "flag" | "default";

/**
 * One configuration problem. `path` names the thing the user typed: an environment variable
 * (`STACKYARD_PORT`), a config.json path (`sso_config.oidc_args.client_id`), a flag
 * (`--port`) or, for file problems, the file. `value` is already safe to print: secrets are
 * "<redacted>"; "" means there is no value to show (missing field, unreadable file).
 */
export interface ConfigIssue {
  path: string;
  source: ConfigSource;
  value: string;
  message: string;
}

/** One line per issue: `<source> <path>: <message> (got <value>)`; the suffix is left out when value is "". */
export function formatConfigIssues(issues: readonly ConfigIssue[]): string {
  return issues
    .map(
      (i) =>
        `${i.source} ${i.path}: ${i.message}${i.value === "" ? "" : ` (got ${i.value})`}`,
    )
    .join("\n");
}

export class ConfigError extends AppError {
  override readonly code = "INVALID_CONFIG";
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    const count =
      issues.length === 1 ? "1 problem" : `${issues.length} problems`;
    super(`invalid configuration (${count}):\n${formatConfigIssues(issues)}`);
    this.issues = issues;
  }
}

export const REDACTED = "<redacted>";

/** A Postgres URL with its password (and password query parameters) replaced; unparsable: fully redacted. */
export function redactUrlPassword(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return REDACTED;
  }
  const auth = url.username
    ? `${url.username}${url.password ? `:${REDACTED}` : ""}@`
    : url.password
      ? `:${REDACTED}@`
      : "";
  const params = [...url.searchParams].map(([k, v]) =>
    /password/i.test(k)
      ? `${k}=${REDACTED}`
      : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`,
  );
  return `${url.protocol}//${auth}${url.host}${url.pathname}${params.length > 0 ? `?${params.join("&")}` : ""}`;
}

/** How a raw (non-secret) value is shown in an issue. Objects are summarised, never dumped. */
export function displayValue(raw: unknown): string {
  if (raw === undefined) return "";
  if (typeof raw === "string")
    return JSON.stringify(raw.length > 120 ? `${raw.slice(0, 117)}...` : raw);
  if (Array.isArray(raw)) return "an array";
  if (raw !== null && typeof raw === "object") return "an object";
  return String(raw);
}
