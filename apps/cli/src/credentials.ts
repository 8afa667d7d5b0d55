import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Credentials {
  endpoint: string;
  apiKeyId: string;
  apiKeySecret: string;
}

export class CredentialsError extends Error {}

/**
 * Where the CLI finds its API and key, first match wins:
 * 1. STACKYARD_API_ENDPOINT / STACKYARD_API_KEY_ID / STACKYARD_API_KEY_SECRET
 *    (spacectl's SPACELIFT_API_KEY_ENDPOINT / _ID / _SECRET are accepted too);
 * 2. the admin key that `stackyard up` saved in `<data-dir>/admin-api-key.json`
 *    (data dir from --data-dir or STACKYARD_DATA_DIR, default ./.stackyard) with the
 *    endpoint http://localhost:<STACKYARD_PORT or 1983>.
 */
export function resolveCredentials(
  env: NodeJS.ProcessEnv,
  dataDir?: string,
): Credentials {
  const endpoint = env.STACKYARD_API_ENDPOINT ?? env.SPACELIFT_API_KEY_ENDPOINT;
  const id = env.STACKYARD_API_KEY_ID ?? env.SPACELIFT_API_KEY_ID;
  const secret = env.STACKYARD_API_KEY_SECRET ?? env.SPACELIFT_API_KEY_SECRET;
  if (endpoint && id && secret)
    return { endpoint, apiKeyId: id, apiKeySecret: secret };
  const dir = path.resolve(dataDir ?? env.STACKYARD_DATA_DIR ?? "./.stackyard");
  const file = path.join(dir, "admin-api-key.json");
  if (existsSync(file)) {
    const key = JSON.parse(readFileSync(file, "utf8")) as {
      id?: string;
      secret?: string;
    };
    if (key.id && key.secret) {
      return {
        endpoint:
          endpoint ?? `http://localhost:${env.STACKYARD_PORT ?? "1983"}`,
        apiKeyId: key.id,
        apiKeySecret: key.secret,
      };
    }
  }
  throw new CredentialsError(
    "no API credentials: set STACKYARD_API_ENDPOINT, STACKYARD_API_KEY_ID and STACKYARD_API_KEY_SECRET, or run next to a `stackyard up` data directory (--data-dir)",
  );
}
