import { z } from "zod";
import { formatIssues } from "./messages.ts";
import { TOPIC_SEGMENT_PATTERN } from "./topics.ts";

/**
 * The worker pool token: everything a launcher needs to reach its server, handed to the
 * user once at pool creation and passed to the launcher as `STACKYARD_TOKEN`
 * (or `SPACELIFT_TOKEN`). Format: base64 of the JSON object below, with `v` for future
 * changes. It holds the pool credential in clear, so it is a secret; the server keeps
 * only the credential's sha256.
 */
export const poolTokenSchema = z.object({
  v: z.literal(1),
  /** Public HTTPS URL of the server, for synchronous calls (logs, uploads). */
  serverUrl: z.url(),
  /** MQTT broker the launcher connects to: `mqtt://host:port` or `mqtts://host:port` (also tcp://, tls://). */
  brokerEndpoint: z
    .string()
    .regex(
      /^(mqtts?|tcp|tls):\/\/[^/\s]+$/,
      "must look like mqtt://host:port or mqtts://host:port",
    ),
  poolId: z.string().regex(TOPIC_SEGMENT_PATTERN, "must be a valid pool id"),
  /** MQTT password; the MQTT username is the pool id. */
  credential: z.string().min(16),
  /** Topic namespace, the first topic level. */
  namespace: z
    .string()
    .regex(TOPIC_SEGMENT_PATTERN, "must be a valid topic namespace"),
});

export type PoolToken = Omit<z.infer<typeof poolTokenSchema>, "v">;

export function encodePoolToken(token: PoolToken): string {
  const parsed = poolTokenSchema.safeParse({ v: 1, ...token });
  if (!parsed.success)
    throw new Error(
      `cannot encode pool token: ${formatIssues(parsed.error.issues)}`,
    );
  return Buffer.from(JSON.stringify(parsed.data)).toString("base64");
}

export class PoolTokenError extends Error {}

/**
 * Decodes a token from `encodePoolToken`. Accepts standard or URL-safe base64 and
 * surrounding whitespace (tokens are pasted from terminals and secret stores). Throws
 * PoolTokenError saying what is wrong, never echoing the token itself.
 */
export function decodePoolToken(value: string): PoolToken {
  const text = value.trim();
  if (text.length === 0) throw new PoolTokenError("pool token is empty");
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    throw new PoolTokenError(
      "pool token is not base64: copy the whole token printed when the pool was created",
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text, "base64").toString("utf8"));
  } catch {
    throw new PoolTokenError(
      "pool token does not decode to JSON: it is truncated or not a Stackyard pool token",
    );
  }
  if (typeof raw !== "object" || raw === null)
    throw new PoolTokenError("pool token does not hold an object");
  const v = (raw as { v?: unknown }).v;
  if (v !== 1)
    throw new PoolTokenError(
      `pool token version ${JSON.stringify(v)} is not supported (expected 1)`,
    );
  const parsed = poolTokenSchema.safeParse(raw);
  if (!parsed.success) {
    // Issue messages name fields and rules, never the credential's value.
    throw new PoolTokenError(
      `pool token is invalid: ${formatIssues(parsed.error.issues)}`,
    );
  }
  const { v: _v, ...token } = parsed.data;
  return token;
}
