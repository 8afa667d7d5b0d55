import { readFile } from "node:fs/promises";
import net from "node:net";
import tls from "node:tls";
import {
  Aedes,
  type AuthenticateError,
  type AuthErrorCode,
  type Client,
} from "aedes";
import {
  readonlyTopic,
  writeonlyTopic,
  isTopicSegment,
} from "@stackyard/protocol";
import type { Logger } from "../log/logger.ts";

/** Who a connected worker client is, fixed at CONNECT time by `authenticate`. */
export interface WorkerIdentity {
  poolId: string;
  workerId: string;
}

export interface BuiltinBrokerOptions {
  host: string;
  /** 0 picks a free port; read it back with `address()`. */
  port: number;
  /** PEM files; without them the broker speaks plain MQTT (mqtt://). */
  tls?: { certFile: string; keyFile: string } | null;
  /** Topic namespace (first topic level) the ACL is computed for. */
  namespace: string;
  /**
   * Checks a worker's credentials (username = pool id, password = pool credential) and
   * returns the pool it belongs to, or null to refuse. Injected by the workers module;
   * the broker itself knows nothing about pools.
   */
  authenticate: (
    username: string,
    password: string,
  ) => Promise<{ poolId: string } | null>;
  log: Logger;
  /** Level for the broker's own log lines (MQTT_BROKER_BUILTIN_LOG_LEVEL); default "error". */
  logLevel?: string;
}

// aedes's AuthErrorCode is an ambient const enum, which isolatedModules cannot inline.
const IDENTIFIER_REJECTED = 2 as AuthErrorCode;
const SERVER_UNAVAILABLE = 3 as AuthErrorCode;
const BAD_USERNAME_OR_PASSWORD = 4 as AuthErrorCode;

function authError(message: string, code: AuthErrorCode): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code });
}

/** Whether a listen address accepts connections from this host only. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1") return true;
  if (net.isIPv4(h)) return h.startsWith("127.");
  // IPv4-mapped IPv6 loopback (::ffff:127.0.0.1).
  return /^::ffff:127\./.test(h);
}

/**
 * The MQTT broker embedded in the server (MQTT_BROKER_TYPE=builtin): aedes on a TCP or
 * TLS listener, MQTT 3.1.1 only (aedes 1.2.0 refuses MQTT 5).
 *
 * Identity and ACL. A worker connects with username = `<poolId>`, password = the pool
 * credential and client id = `<poolId>:<workerId>`. The pool comes from the credential
 * check, the worker id from the client id, so a pool's credential can only act for
 * workers of that pool. Once connected, a worker may
 * - publish only to `<ns>/writeonly/<poolId>/<workerId>` (any other publish closes the
 *   connection: the client is broken or hostile), and
 * - subscribe only to `<ns>/readonly/<poolId>/<workerId>`, exactly, no wildcards (any
 *   other subscription is refused with SUBACK 0x80 and the connection stays up).
 * Two connections with the same client id follow MQTT take-over: the newer one wins.
 *
 * The server itself talks to aedes in-process (`InProcessTransport`), which bypasses
 * authentication and ACL: aedes only runs these hooks for network clients.
 */
export class BuiltinBroker {
  private broker: Aedes | null = null;
  private server: net.Server | null = null;
  private readonly identities = new WeakMap<Client, WorkerIdentity>();
  /** The broker's logger (component "broker", at the broker's log level). */
  readonly log: Logger;

  constructor(private readonly opts: BuiltinBrokerOptions) {
    this.log = opts.log.child(
      { component: "broker" },
      { level: opts.logLevel ?? "error" },
    );
  }

  /** The aedes instance, for the in-process transport. Only valid between start() and stop(). */
  get aedes(): Aedes {
    if (!this.broker) throw new Error("the built-in broker is not started");
    return this.broker;
  }

  async start(): Promise<void> {
    if (this.broker) return;
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.authenticateClient(client, username, password).then(
          (err) => done(err, err === null),
          (err: unknown) => {
            this.log.error(
              { err, clientId: client.id },
              "broker authentication failed unexpectedly",
            );
            done(authError("Server unavailable", SERVER_UNAVAILABLE), false);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        if (client === null) return done(null);
        const id = this.identities.get(client);
        if (
          id &&
          packet.topic ===
            writeonlyTopic(this.opts.namespace, id.poolId, id.workerId)
        )
          return done(null);
        this.log.warn(
          { clientId: client.id, topic: packet.topic },
          "refused publish outside the worker's writeonly topic",
        );
        done(new Error(`not authorized to publish to ${packet.topic}`));
      },
      authorizeSubscribe: (client, sub, done) => {
        const id = this.identities.get(client);
        if (
          id &&
          sub.topic ===
            readonlyTopic(this.opts.namespace, id.poolId, id.workerId)
        )
          return done(null, sub);
        this.log.warn(
          { clientId: client.id, topic: sub.topic },
          "refused subscription outside the worker's readonly topic",
        );
        done(null, null);
      },
    });
    broker.on("clientReady", (client) =>
      this.log.debug({ clientId: client.id }, "worker connected"),
    );
    broker.on("clientDisconnect", (client) =>
      this.log.debug({ clientId: client.id }, "worker disconnected"),
    );
    broker.on("clientError", (client, err) =>
      this.log.debug({ err, clientId: client.id }, "worker connection error"),
    );
    broker.on("connectionError", (_client, err) =>
      this.log.debug({ err }, "connection error before CONNECT"),
    );

    let server: net.Server;
    if (this.opts.tls) {
      const [cert, key] = await Promise.all([
        readFile(this.opts.tls.certFile),
        readFile(this.opts.tls.keyFile),
      ]);
      server = tls.createServer({ cert, key, noDelay: true }, broker.handle);
    } else {
      server = net.createServer({ noDelay: true }, broker.handle);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(this.opts.port, this.opts.host, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw new Error(
        `starting the MQTT broker on ${this.opts.host}:${this.opts.port}`,
        { cause: err },
      );
    }
    server.on("error", (err) => this.log.error({ err }, "MQTT listener error"));
    this.broker = broker;
    this.server = server;
    const { port } = this.address();
    this.opts.log.info(
      { host: this.opts.host, port, tls: Boolean(this.opts.tls) },
      "built-in MQTT broker listening",
    );
    if (!this.opts.tls && !isLoopbackHost(this.opts.host))
      this.opts.log.warn(
        { host: this.opts.host, port },
        "the built-in MQTT broker listens beyond loopback without TLS: pool credentials and run messages cross the network in plain text; set STACKYARD_MQTT_TLS_CERT_FILE and STACKYARD_MQTT_TLS_KEY_FILE (launchers then connect with mqtts://), or bind the server to loopback",
      );
  }

  /** Closes every client connection, then the listener. Safe to call twice. */
  async stop(): Promise<void> {
    const broker = this.broker;
    const server = this.server;
    this.broker = null;
    this.server = null;
    if (broker)
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server)
      await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Closes every live connection authenticated for `poolId` (after its credential was
   * reset, so old sessions do not outlive the old token); returns how many. The clients
   * must reconnect, which checks the new credential.
   */
  disconnectPool(poolId: string): number {
    const broker = this.broker;
    if (!broker) return 0;
    // aedes keeps its connected clients by id in `clients`; its typings omit the field.
    const clients = (broker as unknown as { clients: Record<string, Client> })
      .clients;
    let closed = 0;
    for (const client of Object.values(clients)) {
      if (this.identities.get(client)?.poolId !== poolId) continue;
      client.close();
      closed++;
    }
    return closed;
  }

  isListening(): boolean {
    return this.server?.listening === true && this.broker?.closed === false;
  }

  address(): { host: string; port: number } {
    const addr = this.server?.address();
    if (!addr || typeof addr === "string")
      throw new Error("the built-in broker is not listening");
    return { host: addr.address, port: addr.port };
  }

  /** Resolves to null when the client is accepted, or to the CONNACK refusal. */
  private async authenticateClient(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<AuthenticateError | null> {
    if (!username || !password)
      return authError("Bad username or password", BAD_USERNAME_OR_PASSWORD);
    const sep = client.id.indexOf(":");
    const clientPool = client.id.slice(0, sep);
    const workerId = client.id.slice(sep + 1);
    if (sep < 0 || clientPool !== username || !isTopicSegment(workerId)) {
      this.log.warn(
        { clientId: client.id, username },
        "refused client id: expected <poolId>:<workerId>",
      );
      return authError("Identifier rejected", IDENTIFIER_REJECTED);
    }
    const result = await this.opts.authenticate(
      username,
      password.toString("utf8"),
    );
    if (!result || result.poolId !== clientPool) {
      this.log.warn({ clientId: client.id }, "refused worker credentials");
      return authError("Bad username or password", BAD_USERNAME_OR_PASSWORD);
    }
    this.identities.set(client, { poolId: result.poolId, workerId });
    return null;
  }
}
