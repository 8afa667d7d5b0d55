import { ApiError } from "./client.ts";

/**
 * A call to Stackyard's REST API (`/api/v1/...`) with a session bearer token (from
 * `exchangeApiKey`, `adminLogin`, or the web UI's session): JSON in and out. Error
 * answers (`{error, message}`) become an ApiError with that message and code.
 */
export async function restRequest<T>(
  endpoint: string,
  jwt: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  doFetch: typeof fetch = fetch,
): Promise<T> {
  const base = endpoint.replace(/\/+$/, "");
  let res: Response;
  try {
    res = await doFetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${jwt}`,
        ...(method === "POST" ? { "content-type": "application/json" } : {}),
      },
      body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
    });
  } catch (err) {
    throw new ApiError(
      `cannot reach Stackyard at ${base}: ${(err as Error).message}`,
      "UNAVAILABLE",
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(
      `unexpected response from ${base}${path} (HTTP ${res.status}): ${text.slice(0, 200)}`,
      null,
    );
  }
  if (!res.ok) {
    const err = parsed as { error?: string; message?: string };
    throw new ApiError(
      err.message ?? `HTTP ${res.status} from ${path}`,
      err.error ?? null,
    );
  }
  return parsed as T;
}
