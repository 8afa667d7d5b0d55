/**
 * Request URLs as they may appear in a log line. Some URLs carry a credential: the
 * pre-signed transfer paths (`/state-download/<jwt>`, `/uploads/<token>`), a query
 * parameter named like a credential (`?token=`, `?ticket=`, pre-signed `X-Amz-Signature`),
 * and any JWT wherever it appears. Each is replaced by `<redacted>`; the rest of the URL
 * (route, ids) stays readable. Every pattern is linear in the URL's length.
 */
const REDACTED = "<redacted>";

/** Path prefixes whose remainder is a bearer token. */
const TOKEN_PATH_PREFIXES = ["/state-download/", "/uploads/"];

/** Query parameters whose value is a credential (compared lower-cased). */
const SECRET_QUERY_PARAMS = new Set([
  "token",
  "ticket",
  "access_token",
  "jwt",
  "secret",
  "password",
  "code",
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "x-goog-signature",
  "x-goog-credential",
  "sig",
  "signature",
]);

/**
 * Runs of URL-safe characters, each checked for a JWT (three base64url parts, the first
 * starting like a JSON header) from its first `eyJ`. Matching whole runs, then an anchored
 * pattern whose classes exclude the separator, keeps this linear: an unanchored JWT
 * pattern backtracks quadratically on a long run of `eyJ`.
 */
const RUN = /[\w.-]+/g;
const JWT_TAIL = /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/;

function redactJwts(s: string): string {
  return s.replace(RUN, (run) => {
    const at = run.indexOf("eyJ");
    return at >= 0 && JWT_TAIL.test(run.slice(at))
      ? run.slice(0, at) + REDACTED
      : run;
  });
}

export function redactUrlTokens(url: string): string {
  const q = url.indexOf("?");
  let path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? null : url.slice(q + 1);
  for (const prefix of TOKEN_PATH_PREFIXES) {
    const at = path.indexOf(prefix);
    if (at >= 0 && path.length > at + prefix.length) {
      path = path.slice(0, at + prefix.length) + REDACTED;
      break;
    }
  }
  path = redactJwts(path);
  if (query === null) return path;
  const params = query.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (eq >= 0 && SECRET_QUERY_PARAMS.has(safeDecode(name).toLowerCase()))
      return `${name}=${REDACTED}`;
    return redactJwts(pair);
  });
  return `${path}?${params.join("&")}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
