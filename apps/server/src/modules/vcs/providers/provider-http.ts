import { trimTrailing } from "../../../platform/text.ts";
import {
  VcsProviderApiError,
  VcsProviderConfigurationError,
  type ProviderName,
} from "./provider-errors.ts";

/** What the adapters need to reach a provider; tests pass a fake's URL, never a mock. */
export interface ProviderHttpDeps {
  fetch: typeof fetch;
  /** Per request, including reading the answer. */
  timeoutMs: number;
}

export interface ProviderRequest {
  provider: ProviderName;
  method: "GET" | "POST" | "PATCH" | "PUT";
  url: URL;
  headers: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  /** Values that must never appear in an error message (tokens, the App JWT). */
  secrets: string[];
}

export interface ProviderResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or null for an empty or non-JSON answer. */
  body: unknown;
}

/** Joins an API base URL (which may carry a path, as GitHub Enterprise's `/api/v3`) and a path. */
export function apiUrl(
  provider: ProviderName,
  base: string,
  path: string,
  query: Record<string, string> = {},
): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new VcsProviderConfigurationError(
      `the ${provider} API URL "${base}" is not a URL; set settings.apiUrl to e.g. ${provider === "GitHub" ? "https://api.github.com" : "https://gitlab.com"}`,
    );
  }
  url.pathname = trimTrailing(url.pathname, "/") + path;
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url;
}

/**
 * One JSON request. Resolves with any 2xx answer; everything else becomes a
 * VcsProviderApiError naming the provider's message, with `retryable` set by status.
 */
export async function providerRequest(
  deps: ProviderHttpDeps,
  req: ProviderRequest,
): Promise<ProviderResponse> {
  const where = `${req.provider} ${req.method} ${req.url.pathname}`;
  const headers: Record<string, string> = {
    "user-agent": "Stackyard",
    ...req.headers,
  };
  if (req.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  let text: string;
  try {
    res = await deps.fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: AbortSignal.timeout(deps.timeoutMs),
      // A redirect is reported, never followed: it could carry the token to another host.
      redirect: "manual",
    });
    text = await res.text();
  } catch (err) {
    const reason =
      err instanceof Error && err.name === "TimeoutError"
        ? `no answer within ${deps.timeoutMs} ms`
        : describeNetworkError(err);
    throw new VcsProviderApiError(
      req.provider,
      0,
      true,
      redact(`${where} failed: ${reason}`, req.secrets),
    );
  }
  const body = parseJson(text);
  if (res.status >= 200 && res.status < 300)
    return { status: res.status, headers: res.headers, body };
  const message = providerMessage(body) ?? res.statusText ?? "";
  throw new VcsProviderApiError(
    req.provider,
    res.status,
    isRetryable(res.status, res.headers, message),
    redact(
      `${where} answered ${res.status}${message ? `: ${message}` : ""}`,
      req.secrets,
    ),
  );
}

/**
 * The URL of the next page from a `Link` header (RFC 8288), as GitHub and GitLab send
 * for paginated lists; null on the last page. A link to another origin than the request's
 * is not followed: the token would go with it.
 */
export function nextPageUrl(headers: Headers, current: URL): URL | null {
  const link = headers.get("link");
  if (!link) return null;
  for (const part of link.split(",")) {
    const m = /^<([^>]+)>\s*;(.*)$/.exec(part.trim());
    if (m?.[1] && /\brel="?next"?/.test(m[2] ?? "")) {
      try {
        const next = new URL(m[1], current);
        return next.origin === current.origin ? next : null;
      } catch {
        return null;
      }
    }
  }
  return null;
}

function isRetryable(status: number, headers: Headers, message: string) {
  if (status === 401 || status === 408 || status === 429 || status >= 500)
    return true;
  // GitHub answers a spent rate limit with 403 (primary or secondary limit).
  return (
    status === 403 &&
    (headers.get("x-ratelimit-remaining") === "0" ||
      headers.has("retry-after") ||
      /rate limit/i.test(message))
  );
}

function parseJson(text: string): unknown {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * The error text of a GitHub (`{message, errors: [{message|code, field}]}`) or GitLab
 * (`{message: string | {field: [problems]}}` or `{error}`) answer.
 */
function providerMessage(body: unknown): string | null {
  if (!body || typeof body !== "object") return null;
  const b = body as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof b["message"] === "string") parts.push(b["message"]);
  else if (b["message"] && typeof b["message"] === "object")
    for (const [field, problems] of Object.entries(b["message"]))
      parts.push(
        `${field} ${Array.isArray(problems) ? problems.join(", ") : JSON.stringify(problems)}`,
      );
  if (typeof b["error"] === "string") parts.push(b["error"]);
  if (Array.isArray(b["errors"]))
    for (const e of b["errors"] as unknown[]) {
      if (typeof e === "string") parts.push(e);
      else if (e && typeof e === "object") {
        const item = e as Record<string, unknown>;
        const text =
          typeof item["message"] === "string"
            ? item["message"]
            : [item["field"], item["code"]].filter(Boolean).join(" ");
        if (text) parts.push(text);
      }
    }
  return parts.length ? parts.join("; ").slice(0, 500) : null;
}

function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string"
      ? `${err.message} (${code})`
      : `${err.message} (${cause.message})`;
  }
  return err.message;
}

function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("[redacted]");
  return out;
}
