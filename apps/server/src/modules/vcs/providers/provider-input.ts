import { createHash, timingSafeEqual } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import type { z } from "zod";
import { trimTrailing } from "../../../platform/text.ts";
import { VcsInputError } from "../provider.ts";
import {
  VcsProviderConfigurationError,
  type ProviderName,
} from "./provider-errors.ts";

/** The all-zero SHA both providers send as `before` of a new ref and `after` of a deleted one. */
export const ZERO_SHA = "0000000000000000000000000000000000000000";

/** A header by name, case-insensitively; the first value when repeated. */
export function headerValue(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers))
    if (k.toLowerCase() === wanted) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

/**
 * Constant-time equality of two secrets of any length: both sides are hashed first, so
 * neither the content nor the length of the expected value leaks through timing.
 */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Validates a webhook payload against the zod schema of the fields we read. A failure is
 * a VcsInputError naming each bad field by its JSON path and what was expected.
 */
export function parsePayload<T>(
  schema: z.ZodType<T>,
  payload: unknown,
  what: string,
): T {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .slice(0, 5)
    .map((issue) => {
      const field = issue.path.length
        ? issue.path.map(String).join(".")
        : "(payload)";
      return `field "${field}": ${issue.message}`;
    })
    .join("; ");
  throw new VcsInputError(
    `malformed ${what}: ${problems}; the payload must be the provider's documented webhook JSON`,
  );
}

const GITHUB_OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const SEGMENT = /^[A-Za-z0-9_.-]+$/;

/**
 * Checks a repository name ("owner/repo" on GitHub; "group/sub/project" on GitLab) before
 * it goes into an API path or a clone URL, so it cannot escape either (no "..", no
 * empty segments, no URL syntax).
 */
export function checkRepository(
  provider: ProviderName,
  repository: string,
): string[] {
  const segments = repository.split("/");
  const shapeOk =
    provider === "GitHub"
      ? segments.length === 2 && GITHUB_OWNER.test(segments[0] ?? "")
      : segments.length >= 2;
  const segmentsOk = segments.every(
    (s) => SEGMENT.test(s) && s !== "." && s !== ".." && !s.endsWith(".git"),
  );
  if (!shapeOk || !segmentsOk)
    throw new VcsInputError(
      `repository "${repository}" is not a ${provider} repository path; use ${provider === "GitHub" ? '"owner/name"' : '"namespace/name" (groups separated by "/")'} without ".git"`,
    );
  return segments;
}

/**
 * The clone URL of `repository` under the integration's `gitUrl`. An http(s) base gets
 * the credentials as userinfo (the URL is then a secret: it is handed to the launcher
 * and never logged). A `file://` base (a directory of bare repositories
 * `<namespace>/<name>.git`) is returned without credentials.
 */
export function buildCloneUrl(
  provider: ProviderName,
  gitUrl: string,
  segments: string[],
  credentials: () => Promise<{ username: string; password: string }>,
): Promise<string> {
  let base: URL;
  try {
    base = new URL(gitUrl);
  } catch {
    throw new VcsProviderConfigurationError(
      `the ${provider} git URL "${gitUrl}" is not a URL; set settings.gitUrl to e.g. ${provider === "GitHub" ? "https://github.com" : "https://gitlab.com"}`,
    );
  }
  const relative = `${segments.join("/")}.git`;
  if (base.protocol === "file:") {
    const dir = fileURLToPath(base);
    return Promise.resolve(pathToFileURL(path.join(dir, relative)).href);
  }
  if (base.protocol !== "https:" && base.protocol !== "http:")
    throw new VcsProviderConfigurationError(
      `the ${provider} git URL "${gitUrl}" must be https:// (or file:// for a local directory)`,
    );
  return credentials().then(({ username, password }) => {
    const url = new URL(base.href);
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password);
    url.pathname = `${trimTrailing(url.pathname, "/")}/${relative}`;
    url.search = "";
    url.hash = "";
    return url.href;
  });
}

/** `refs/heads/x` → branch x; `refs/tags/v1` → tag v1; anything else → neither. */
export function splitRef(ref: string): {
  branch: string | null;
  tag: string | null;
} {
  if (ref.startsWith("refs/heads/"))
    return { branch: ref.slice("refs/heads/".length), tag: null };
  if (ref.startsWith("refs/tags/"))
    return { branch: null, tag: ref.slice("refs/tags/".length) };
  return { branch: null, tag: null };
}

/** Union of the files a push's commits added, modified or removed, in first-seen order. */
export function affectedFilesOf(
  commits: Array<{ added?: string[]; modified?: string[]; removed?: string[] }>,
): string[] {
  const files = new Set<string>();
  for (const c of commits)
    for (const f of [
      ...(c.added ?? []),
      ...(c.modified ?? []),
      ...(c.removed ?? []),
    ])
      files.add(f);
  return [...files];
}

/** Shortens `text` to `max` characters, ending with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The body to store: `marker` is kept in it, so the comment can be found again. */
export function withMarker(marker: string, body: string): string {
  return body.includes(marker) ? body : `${marker}\n${body}`;
}
