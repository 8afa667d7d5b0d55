import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import mqtt, { type MqttClient } from "mqtt";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { encodePayload, topicMatches, type WorkerTransport } from "./worker-transport.ts";

export interface MqttClientTransportOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  username?: string;
  password?: string;
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
  private readonly handlers: { filter: string; handler: (topic: string, payload: Buffer) => void }[] = [];

  constructor(private readonly opts: MqttClientTransportOptions) {}

  async start(): Promise<void> {
    if (this.client) return;
    const log = this.opts.log;
    const client = mqtt.connect(this.opts.url, {
      protocolVersion: 4,
      clean: true,
      clientId: this.opts.clientId ?? `stackyard-server-${randomUUID()}`,
      username: this.opts.username,
      password: this.opts.password,
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
    client.on("offline", () => log.warn({ url: this.opts.url }, "MQTT broker connection lost; reconnecting"));
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
          () => reject(new UnavailableError(`no connection to the MQTT broker at ${this.opts.url} after ${this.opts.connectTimeoutMs ?? 30_000} ms`)),
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
            reject(new UnavailableError(`the MQTT broker at ${this.opts.url} refused our credentials: ${err.message}`, { cause: err }));
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
    if (!client?.connected) throw new UnavailableError(`cannot publish to ${topic}: not connected to the MQTT broker`);
    await client.publishAsync(topic, encodePayload(payload), { qos: 1 });
  }

  async subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void> {
    const client = this.client;
    if (!client) throw new Error("MqttClientTransport is not started");
    this.handlers.push({ filter, handler });
    const granted = await client.subscribeAsync(filter, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) {
      throw new UnavailableError(`the MQTT broker refused the subscription to ${filter}: check its ACL`);
    }
  }

  isHealthy(): boolean {
    return this.client?.connected === true;
  }
}
