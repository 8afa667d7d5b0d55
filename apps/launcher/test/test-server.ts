import { generateKeyPairSync } from "node:crypto";
import {
  encodeMessage,
  encodePoolToken,
  parseWorkerMessage,
  readonlyTopic,
  type ServerMessage,
  type WorkerMessage,
} from "@stackyard/protocol";
import { pino } from "pino";
import { BuiltinBroker, InProcessTransport } from "@stackyard/server/broker";

/** A pool key pair for tests; `base64Pem` is what STACKYARD_POOL_PRIVATE_KEY holds. */
export function testPoolKey(): {
  privateKeyPem: string;
  publicKeyPem: string;
  base64Pem: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
  });
  const privateKeyPem = privateKey
    .export({ type: "pkcs8", format: "pem" })
    .toString();
  return {
    privateKeyPem,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    base64Pem: Buffer.from(privateKeyPem).toString("base64"),
  };
}

/**
 * A real built-in broker plus a minimal in-memory server side for launcher tests: one
 * pool with a known credential, every worker message recorded, `worker.register`
 * answered with a short heartbeat interval.
 */
export class TestServer {
  readonly namespace = "test";
  readonly poolId = "wp_testpool";
  readonly credential = "test-credential-0123456789";
  readonly received: WorkerMessage[] = [];
  heartbeatIntervalSeconds = 0.05;
  /** The pool's key pair; `env()` passes its private half to the launcher. */
  readonly poolKey = testPoolKey();
  private readonly broker: BuiltinBroker;
  private readonly transport: InProcessTransport;

  constructor() {
    const log = pino({ level: "silent" });
    this.broker = new BuiltinBroker({
      host: "127.0.0.1",
      port: 0,
      namespace: this.namespace,
      log,
      authenticate: async (username, password) =>
        username === this.poolId && password === this.credential
          ? { poolId: this.poolId }
          : null,
    });
    this.transport = new InProcessTransport(this.broker);
  }

  async start(): Promise<void> {
    await this.broker.start();
    await this.transport.start();
    await this.transport.subscribe(
      `${this.namespace}/writeonly/+/+`,
      (_topic, payload) => {
        const parsed = parseWorkerMessage(payload);
        if (!parsed.ok) throw new Error(parsed.error);
        this.received.push(parsed.msg);
        if (parsed.msg.type === "worker.register") {
          void this.send(parsed.msg.workerId, {
            v: 1,
            type: "worker.registered",
            workerId: parsed.msg.workerId,
            heartbeatIntervalSeconds: this.heartbeatIntervalSeconds,
          });
        }
      },
    );
  }

  async stop(): Promise<void> {
    await this.transport.stop();
    await this.broker.stop();
  }

  get brokerUrl(): string {
    return `mqtt://127.0.0.1:${this.broker.address().port}`;
  }

  token(overrides: { credential?: string } = {}): string {
    return encodePoolToken({
      serverUrl: "http://127.0.0.1:1983",
      brokerEndpoint: this.brokerUrl,
      poolId: this.poolId,
      credential: overrides.credential ?? this.credential,
      namespace: this.namespace,
    });
  }

  /** The launcher environment for this server's pool. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      STACKYARD_TOKEN: this.token(),
      STACKYARD_POOL_PRIVATE_KEY: this.poolKey.base64Pem,
      ...extra,
    };
  }

  send(workerId: string, msg: ServerMessage | string): Promise<void> {
    const payload = typeof msg === "string" ? msg : encodeMessage(msg);
    return this.transport.publish(
      readonlyTopic(this.namespace, this.poolId, workerId),
      payload,
    );
  }

  messages<T extends WorkerMessage["type"]>(
    type: T,
  ): Extract<WorkerMessage, { type: T }>[] {
    return this.received.filter(
      (m): m is Extract<WorkerMessage, { type: T }> => m.type === type,
    );
  }
}
