import type { AedesPublishPacket } from "aedes";
import type { Logger } from "../log/logger.ts";
import type { BuiltinBroker } from "./builtin-broker.ts";
import { encodePayload, type WorkerTransport } from "./worker-transport.ts";

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;

/**
 * The server's side of the built-in broker: publishes and subscribes on the aedes
 * instance directly, with no socket and no authentication (aedes applies ACL hooks only
 * to network clients). Start it after the broker and stop it before.
 */
export class InProcessTransport implements WorkerTransport {
  private readonly subscriptions: { filter: string; deliver: Deliver }[] = [];

  constructor(
    private readonly broker: Pick<BuiltinBroker, "aedes" | "isListening">,
    private readonly log: Logger,
  ) {}

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
      subs.map((s) => new Promise<void>((resolve) => aedes.unsubscribe(s.filter, s.deliver, () => resolve()))),
    );
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    const aedes = this.broker.aedes;
    await new Promise<void>((resolve, reject) => {
      aedes.publish(
        { cmd: "publish", topic, payload: encodePayload(payload), qos: 1, retain: false, dup: false },
        (err) => (err ? reject(new Error(`publishing to ${topic}`, { cause: err })) : resolve()),
      );
    });
  }

  async subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<void> {
    const aedes = this.broker.aedes;
    const deliver: Deliver = (packet, done) => {
      try {
        handler(packet.topic, encodePayload(packet.payload));
      } catch (err) {
        this.log.error({ err, topic: packet.topic }, "worker message handler threw");
      }
      done();
    };
    await new Promise<void>((resolve) => aedes.subscribe(filter, deliver, () => resolve()));
    this.subscriptions.push({ filter, deliver });
  }

  isHealthy(): boolean {
    return this.broker.isListening();
  }
}
