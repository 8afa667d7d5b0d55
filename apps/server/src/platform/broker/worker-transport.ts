import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import type { AedesPublishPacket } from "aedes";
import mqtt, { type MqttClient } from "mqtt";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { BuiltinBroker } from "./builtin-broker.ts";

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
  subscribe(
    filter: string,
    handler: (topic: string, payload: Buffer) => void,
  ): Promise<void>;
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

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

/**
 * The server's side of the built-in broker: publishes and subscribes on the aedes
 * instance directly, with no socket and no authentication (aedes applies ACL hooks only
 * to network clients). Start it after the broker and stop it before.
 */
export class InProcessTransport implements WorkerTransport {
  private readonly subscriptions: { filter: string; deliver: Deliver }[] = [];

  private readonly log: Logger;

  constructor(
    private readonly broker: Pick<
      BuiltinBroker,
      "aedes" | "isListening" | "log"
    >,
    log?: Logger,
  ) {
    this.log = log ?? broker.log;
  }

  async start(): Promise<void> {
    // Throws if the broker was not started first.
    void this.broker.aedes;
  }

  async stop(): Promise<void> {
    if (!this.broker.isListening()) {
      this.subscriptions.length = 0;
      return;
    }
    const aedes = this.broker.aedes;
    const subs = this.subscriptions.splice(0);
    await Promise.all(
      subs.map(
        (s) =>
          new Promise<void>((resolve) =>
            aedes.unsubscribe(s.filter, s.deliver, () => resolve()),
          ),
      ),
    );
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    const aedes = this.broker.aedes;
    await new Promise<void>((resolve, reject) => {
      aedes.publish(
        {
          cmd: "publish",
          topic,
          payload: encodePayload(payload),
          qos: 1,
          retain: false,
          dup: false,
        },
        (err) =>
          err
            ? reject(new Error(`publishing to ${topic}`, { cause: err }))
            : resolve(),
      );
    });
  }

  async subscribe(
    filter: string,
    handler: (topic: string, payload: Buffer) => void,
  ): Promise<void> {
    const aedes = this.broker.aedes;
    const deliver: Deliver = (packet, done) => {
      try {
        handler(packet.topic, encodePayload(packet.payload));
      } catch (err) {
        this.log.error(
          { err, topic: packet.topic },
          "worker message handler threw",
        );
      }
      done();
    };
    await new Promise<void>((resolve) =>
      aedes.subscribe(filter, deliver, () => resolve()),
    );
    this.subscriptions.push({ filter, deliver });
  }

  isHealthy(): boolean {
    return this.broker.isListening();
  }
}

export interface MqttClientTransportOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  username?: string | null;
  password?: string | null;
  /** Must be unique per server process; default `stackyard-server-<uuid>`. */
  clientId?: string;
  /** PEM CA bundle for a broker with a private CA. */
  ca?: string | Buffer;
  log: Logger;
  /** How long start() waits for the first connection; default 30 s. */
  connectTimeoutMs?: number;
  /** Delay between reconnect attempts; default 1 s. */
  reconnectPeriodMs?: number;
}

/**
 * The server's side of an external MQTT broker (Mosquitto, EMQX, ...), MQTT 3.1.1 over
 * mqtt.js. The broker's own ACL must confine workers to their topics; this client needs
 * publish on `<ns>/readonly/#` and subscribe on `<ns>/writeonly/#`.
 *
 * Session choice: clean session. Every worker message is soft state repeated by the
 * next heartbeat (a lost register is recovered by `worker.reregister`), so nothing is
 * gained by having the broker queue for us, and a clean session works with a fresh
 * client id per process (several server replicas never steal each other's session).
 * mqtt.js re-subscribes on every reconnect and retries forever in the background.
 *
 * publish() fails fast with UnavailableError while disconnected instead of queueing:
 * a caller waiting on a worker should see the outage, not hang.
 */
export class MqttClientTransport implements WorkerTransport {
  private client: MqttClient | null = null;
  private readonly handlers: {
    filter: string;
    handler: (topic: string, payload: Buffer) => void;
  }[] = [];

  constructor(private readonly opts: MqttClientTransportOptions) {}

  async start(): Promise<void> {
    if (this.client) return;
    const log = this.opts.log;
    const client = mqtt.connect(this.opts.url, {
      protocolVersion: 4,
      clean: true,
      clientId: this.opts.clientId ?? `stackyard-server-${randomUUID()}`,
      username: this.opts.username ?? undefined,
      password: this.opts.password ?? undefined,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
      reconnectPeriod: this.opts.reconnectPeriodMs ?? 1000,
      connectTimeout: this.opts.connectTimeoutMs ?? 30_000,
      resubscribe: true,
    });
    this.client = client;
    client.on("connect", () => {
      // mqtt.js leaves Nagle on; without this every QoS 1 round-trip costs 40-90 ms.
      (client.stream as Partial<Socket>).setNoDelay?.(true);
      log.info({ url: this.opts.url }, "connected to the MQTT broker");
    });
    client.on("offline", () =>
      log.warn(
        { url: this.opts.url },
        "MQTT broker connection lost; reconnecting",
      ),
    );
    client.on("error", (err) => log.warn({ err }, "MQTT client error"));
    client.on("message", (topic, payload) => {
      for (const h of this.handlers) {
        if (!topicMatches(h.filter, topic)) continue;
        try {
          h.handler(topic, payload);
        } catch (err) {
          log.error({ err, topic }, "worker message handler threw");
        }
      }
    });

    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new UnavailableError(
                `no connection to the MQTT broker at ${this.opts.url} after ${this.opts.connectTimeoutMs ?? 30_000} ms`,
              ),
            ),
          this.opts.connectTimeoutMs ?? 30_000,
        );
        const onConnect = () => {
          clearTimeout(timer);
          client.off("error", onError);
          resolve();
        };
        const onError = (err: Error & { code?: unknown }) => {
          // CONNACK 4/5: retrying with the same credentials cannot succeed.
          if (err.code === 4 || err.code === 5) {
            clearTimeout(timer);
            client.off("connect", onConnect);
            reject(
              new UnavailableError(
                `the MQTT broker at ${this.opts.url} refused our credentials: ${err.message}`,
                { cause: err },
              ),
            );
          }
        };
        client.once("connect", onConnect);
        client.on("error", onError);
      });
    } catch (err) {
      this.client = null;
      await client.endAsync(true);
      throw err;
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.handlers.length = 0;
    if (client) await client.endAsync();
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    const client = this.client;
    if (!client?.connected)
      throw new UnavailableError(
        `cannot publish to ${topic}: not connected to the MQTT broker`,
      );
    await client.publishAsync(topic, encodePayload(payload), { qos: 1 });
  }

  async subscribe(
    filter: string,
    handler: (topic: string, payload: Buffer) => void,
  ): Promise<void> {
    const client = this.client;
    if (!client) throw new Error("MqttClientTransport is not started");
    this.handlers.push({ filter, handler });
    // mqtt.js rejects a SUBACK 0x80 (refused by the broker's ACL).
    await client.subscribeAsync(filter, { qos: 1 }).catch((err: unknown) => {
      throw new UnavailableError(
        `the MQTT broker refused the subscription to ${filter}: check its ACL`,
        { cause: err },
      );
    });
  }

  isHealthy(): boolean {
    return this.client?.connected === true;
  }
}
