/**
 * How the server exchanges messages with workers, whichever broker carries them: the
 * built-in one (`InProcessTransport`) or an external one such as Mosquitto
 * (`MqttClientTransport`). Payloads are opaque here; the workers module encodes and
 * parses them with `@stackyard/protocol`.
 *
 * Delivery is QoS 1 (at least once) while connected. Neither implementation queues for
 * a disconnected peer beyond what MQTT does, so callers treat every message as
 * idempotent and repeatable.
 */
export interface WorkerTransport {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Buffers and strings are sent as is; anything else as JSON. */
  publish(topic: string, payload: unknown): Promise<void>;
  /**
   * Calls `handler` for every message matching the MQTT filter (`+` and `#` allowed).
   * The handler must not throw and must not block: it gets the next message only after
   * it returns, so slow work belongs in a promise it starts itself.
   */
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void>;
  isHealthy(): boolean;
}

export function encodePayload(payload: unknown): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === "string") return Buffer.from(payload);
  return Buffer.from(JSON.stringify(payload));
}

/** MQTT topic filter matching (`+` one level, `#` the rest); `$` topics never match a leading wildcard. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}
