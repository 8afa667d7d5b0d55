import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import {
  encodeMessage,
  parseServerMessage,
  readonlyTopic,
  writeonlyTopic,
  type PoolToken,
  type ReportedWorkerStatus,
  type RunAssign,
  type RunStop,
  type ServerMessage,
  type WorkerMessage,
} from "@stackyard/protocol";
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "./log.ts";

export interface LauncherConnectionOptions {
  token: PoolToken;
  workerId: string;
  /** Launcher version, sent in `worker.register`. */
  version: string;
  metadata: Record<string, string>;
  log: Logger;
  /** PEM CA bundle for a broker with a privately signed certificate. */
  ca?: Buffer | null;
  /** Connect (with a warning) to a broker that lets this worker read other pools' topics. */
  allowOpenBroker?: boolean;
  /** Heartbeat interval until the server's `worker.registered` says otherwise; default 10 s. */
  defaultHeartbeatIntervalSeconds?: number;
  /** Delay between reconnect attempts; default 2 s. */
  reconnectPeriodMs?: number;
  /** Per-attempt connect timeout; default 30 s. */
  connectTimeoutMs?: number;
  /** How long stop() waits for the broker to take `worker.unregister`; default 3 s. */
  unregisterTimeoutMs?: number;
  /** `run.assign` and `run.stop` go here; without it they are dropped with a warning. */
  onRunMessage?: (msg: RunAssign | RunStop) => void;
  /**
   * `worker.cycle` goes here, so the current run can finish first; the handler calls
   * stop("cycled by the server") when done. Without it the connection ends at once.
   */
  onCycle?: () => void;
}

/** Why the connection ended: `code` is the process exit code the launcher should use. */
export interface LauncherExit {
  code: number;
  reason: string;
}

/** The broker refused the pool credential or worker id; retrying cannot help. */
export class LauncherAuthError extends Error {
  override name = "LauncherAuthError";
}

/**
 * The broker let this worker subscribe to another pool's topic: without per-pool ACLs
 * any worker could read every pool's run assignments, so the launcher does not start.
 */
export class OpenBrokerError extends Error {
  override name = "OpenBrokerError";
}

/** A pool id no pool has (ids are generated with another shape): the ACL probe's topic. */
const ACL_PROBE_POOL = "stackyard-acl-probe";

/** SUBACK's "failure" return code (MQTT 3.1.1). */
const SUBACK_FAILURE = 128;
/** How long the ACL probe waits for its own message to come back. */
const ACL_PROBE_WAIT_MS = 1000;

// CONNACK return codes that no retry can fix: identifier rejected, bad credentials, not authorized.
const FATAL_CONNACK_CODES = new Set([2, 4, 5]);

/**
 * The launcher's MQTT session with the server.
 *
 * Lifecycle. start() connects (username = pool id, password = pool credential, client id
 * = `<poolId>:<workerId>`), subscribes to the worker's readonly topic, publishes
 * `worker.register`, and resolves. Before registering it checks the broker's ACLs: it
 * must not be able to read another pool's readonly topic, or start() rejects with
 * OpenBrokerError (unless `allowOpenBroker`). A refused credential rejects start() with
 * LauncherAuthError; an unreachable broker is retried until it answers or stop() is
 * called. Every reconnect repeats subscribe + register, because the session is clean
 * (nothing is queued for us while away; the server treats register as idempotent and
 * answers heartbeats from workers it lost with `worker.reregister`).
 *
 * Heartbeats go out every interval from `worker.registered` (default 10 s), and at once
 * when the status changes. `closed` resolves exactly once, when the connection ends for
 * good: stop() (code 0), a `worker.cycle` from the server (code 0), or a credential
 * refused after a reconnect, e.g. a reset pool token (code 1).
 */
export class LauncherConnection {
  readonly closed: Promise<LauncherExit>;
  private resolveClosed!: (exit: LauncherExit) => void;
  private client: MqttClient | null = null;
  private startWaiter: {
    resolve: () => void;
    reject: (err: Error) => void;
  } | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatIntervalMs: number;
  private status: ReportedWorkerStatus = "IDLE";
  private drained = false;
  private runId: string | null = null;
  private failedAttempts = 0;
  private shutdown: Promise<void> | null = null;
  private aclChecked = false;
  private readonly readTopic: string;
  private readonly writeTopic: string;
  private readonly log: Logger;

  constructor(private readonly opts: LauncherConnectionOptions) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.heartbeatIntervalMs =
      (opts.defaultHeartbeatIntervalSeconds ?? 10) * 1000;
    const { namespace, poolId } = opts.token;
    this.readTopic = readonlyTopic(namespace, poolId, opts.workerId);
    this.writeTopic = writeonlyTopic(namespace, poolId, opts.workerId);
    this.log = opts.log;
  }

  /**
   * Marks the worker BUSY with `runId`, or (null) IDLE/DRAINED again, and heartbeats at
   * once so the server sees the change without waiting for the interval.
   */
  setRun(runId: string | null): void {
    const changed = runId !== this.runId;
    this.runId = runId;
    const status = runId ? "BUSY" : this.drained ? "DRAINED" : "IDLE";
    if (changed && status === this.status) this.sendHeartbeat();
    else this.setStatus(status);
  }

  /** IDLE, BUSY or DRAINED, as last reported to the server. */
  get workerStatus(): ReportedWorkerStatus {
    return this.status;
  }

  get isDrained(): boolean {
    return this.drained;
  }

  start(): Promise<void> {
    if (this.client)
      throw new Error("LauncherConnection.start() was already called");
    const { token, workerId } = this.opts;
    const client = mqtt.connect(token.brokerEndpoint, {
      protocolVersion: 4,
      clean: true,
      clientId: `${token.poolId}:${workerId}`,
      username: token.poolId,
      password: token.credential,
      reconnectPeriod: this.opts.reconnectPeriodMs ?? 2000,
      connectTimeout: this.opts.connectTimeoutMs ?? 30_000,
      // We re-subscribe ourselves on every connect, before re-registering.
      resubscribe: false,
      // "Server unavailable" (e.g. the server's database is down) is worth retrying;
      // onError ends the client for the codes that are not.
      reconnectOnConnackError: true,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    this.client = client;
    client.on("connect", () => void this.onConnect(client));
    client.on("message", (topic, payload) => this.onMessage(topic, payload));
    client.on("error", (err) => this.onError(err));
    client.on("offline", () => {
      if (!this.shutdown)
        this.log.warn(
          { broker: token.brokerEndpoint },
          "lost the broker connection; reconnecting",
        );
    });
    return new Promise(
      (resolve, reject) => (this.startWaiter = { resolve, reject }),
    );
  }

  /** Unregisters (best effort, bounded by unregisterTimeoutMs) and disconnects. Idempotent. */
  stop(reason = "launcher stopped"): Promise<void> {
    return this.end({ code: 0, reason }, reason);
  }

  private async onConnect(client: MqttClient): Promise<void> {
    if (this.shutdown) return;
    // mqtt.js leaves Nagle on; without this every QoS 1 round-trip costs 40-90 ms.
    (client.stream as Partial<Socket>).setNoDelay?.(true);
    this.failedAttempts = 0;
    try {
      const own = await client.subscribeAsync(this.readTopic, { qos: 1 });
      if (own.some((g) => g.qos === SUBACK_FAILURE))
        throw new Error("the broker refused the subscription");
      await this.checkAcl(client);
      await this.publish({
        v: 1,
        type: "worker.register",
        workerId: this.opts.workerId,
        poolId: this.opts.token.poolId,
        version: this.opts.version,
        metadata: this.opts.metadata,
        status: this.status,
      });
    } catch (err) {
      // A refused subscription to our own topic means the broker ACL and the token disagree.
      const error =
        err instanceof OpenBrokerError
          ? err
          : new LauncherAuthError(
              `the broker did not let this worker subscribe to ${this.readTopic}`,
              { cause: err },
            );
      if (this.startWaiter) this.startWaiter.reject(error);
      else this.log.error({ err }, error.message);
      this.startWaiter = null;
      await this.end({ code: 1, reason: error.message }, null);
      return;
    }
    this.scheduleHeartbeats();
    this.log.info(
      { broker: this.opts.token.brokerEndpoint },
      "connected and registered",
    );
    this.startWaiter?.resolve();
    this.startWaiter = null;
  }

  /**
   * Refuses (OpenBrokerError) a broker that lets this worker read another pool's readonly
   * topic. A broker may refuse the subscription (SUBACK failure, as the built-in broker
   * does) or accept it and deliver nothing (Mosquitto's ACL file); so unless refused, a
   * nonce is published there and must not come back within ACL_PROBE_WAIT_MS. Checked
   * on the first connection only.
   */
  private async checkAcl(client: MqttClient): Promise<void> {
    if (this.aclChecked) return;
    const { namespace, brokerEndpoint } = this.opts.token;
    const probe = readonlyTopic(namespace, ACL_PROBE_POOL, this.opts.workerId);
    // mqtt.js rejects a subscription whose SUBACK carries a failure code.
    const refused = await client.subscribeAsync(probe, { qos: 0 }).then(
      (granted) => granted.every((g) => g.qos === SUBACK_FAILURE),
      () => true,
    );
    let open = false;
    if (!refused) {
      // JSON, like every message on the namespace, for any bystander that parses them.
      const nonce = JSON.stringify({ type: "acl.probe", nonce: randomUUID() });
      open = await new Promise<boolean>((resolve) => {
        const onMessage = (topic: string, payload: Buffer) => {
          if (topic !== probe || payload.toString() !== nonce) return;
          clearTimeout(timer);
          client.off("message", onMessage);
          resolve(true);
        };
        const timer = setTimeout(() => {
          client.off("message", onMessage);
          resolve(false);
        }, ACL_PROBE_WAIT_MS);
        client.on("message", onMessage);
        client.publish(probe, nonce, { qos: 0 });
      });
      await client.unsubscribeAsync(probe);
    }
    this.aclChecked = true;
    if (!open) return;
    const problem =
      `the MQTT broker at ${brokerEndpoint} let this worker read another pool's topic (${probe}): ` +
      "any worker could read every pool's runs. Give each pool its own topics on the broker " +
      "(`stackyard broker acl` writes Mosquitto's password and ACL files)";
    if (!this.opts.allowOpenBroker)
      throw new OpenBrokerError(
        `${problem}, or set STACKYARD_ALLOW_OPEN_BROKER=true on a development broker`,
      );
    this.log.warn(
      `${problem}; connecting anyway (STACKYARD_ALLOW_OPEN_BROKER)`,
    );
  }

  private onError(err: Error & { code?: unknown }): void {
    if (typeof err.code === "number" && FATAL_CONNACK_CODES.has(err.code)) {
      const error = new LauncherAuthError(
        `the MQTT broker at ${this.opts.token.brokerEndpoint} refused this worker (${err.message}): ` +
          "check STACKYARD_TOKEN; the pool token may have been reset",
        { cause: err },
      );
      if (this.startWaiter) this.startWaiter.reject(error);
      else this.log.error(error.message);
      this.startWaiter = null;
      void this.end({ code: 1, reason: error.message }, null);
      return;
    }
    this.failedAttempts++;
    // One line per outage, then a reminder every ~30 attempts, not one per retry.
    if (this.failedAttempts === 1 || this.failedAttempts % 30 === 0) {
      this.log.warn(
        {
          err,
          broker: this.opts.token.brokerEndpoint,
          attempts: this.failedAttempts,
        },
        "cannot reach the MQTT broker; retrying",
      );
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.readTopic) {
      this.log.warn({ topic }, "dropped a message on an unexpected topic");
      return;
    }
    const parsed = parseServerMessage(payload);
    if (!parsed.ok) {
      this.log.warn(
        { error: parsed.error },
        "dropped an invalid server message",
      );
      return;
    }
    this.handle(parsed.msg);
  }

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case "worker.registered":
        if (msg.workerId !== this.opts.workerId) {
          this.log.warn(
            { for: msg.workerId },
            "dropped worker.registered addressed to another worker",
          );
          return;
        }
        this.heartbeatIntervalMs = msg.heartbeatIntervalSeconds * 1000;
        this.scheduleHeartbeats();
        return;
      case "worker.drain":
        this.drained = msg.drained;
        this.log.info(
          { drained: msg.drained },
          msg.drained ? "drained by the server" : "undrained by the server",
        );
        this.setStatus(
          this.status === "BUSY" ? "BUSY" : msg.drained ? "DRAINED" : "IDLE",
        );
        return;
      case "worker.cycle":
        if (this.opts.onCycle) {
          this.log.info("cycled by the server; exiting after the current run");
          this.opts.onCycle();
          return;
        }
        this.log.info("cycled by the server; exiting");
        void this.end(
          { code: 0, reason: "cycled by the server" },
          "cycled by the server",
        );
        return;
      case "run.assign":
      case "run.stop":
        if (this.opts.onRunMessage) this.opts.onRunMessage(msg);
        else
          this.log.warn(
            { type: msg.type, runId: msg.runId },
            "dropped a run message: this launcher does not execute runs",
          );
        return;
      case "worker.reregister":
        this.log.info(
          "the server lost track of this worker; registering again",
        );
        this.publish({
          v: 1,
          type: "worker.register",
          workerId: this.opts.workerId,
          poolId: this.opts.token.poolId,
          version: this.opts.version,
          metadata: this.opts.metadata,
          status: this.status,
        }).catch((err: unknown) =>
          this.log.warn({ err }, "re-register failed"),
        );
        return;
    }
  }

  private setStatus(status: ReportedWorkerStatus): void {
    const changed = status !== this.status;
    this.status = status;
    if (changed) this.sendHeartbeat();
  }

  private scheduleHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(
      () => this.sendHeartbeat(),
      this.heartbeatIntervalMs,
    );
  }

  private sendHeartbeat(): void {
    if (!this.client?.connected || this.shutdown) return;
    this.publish({
      v: 1,
      type: "worker.heartbeat",
      workerId: this.opts.workerId,
      status: this.status,
      runId: this.runId,
      sentAt: new Date().toISOString(),
    }).catch((err: unknown) => this.log.warn({ err }, "heartbeat failed"));
  }

  private async publish(msg: WorkerMessage): Promise<void> {
    const client = this.client;
    if (!client) throw new Error("not connected");
    await client.publishAsync(this.writeTopic, encodeMessage(msg), { qos: 1 });
  }

  /**
   * The single way out: stops heartbeats, unregisters when `unregisterReason` is given
   * and the broker is reachable, ends the client, resolves `closed`. The first caller's
   * exit wins; later calls wait for the same shutdown.
   */
  private end(
    exit: LauncherExit,
    unregisterReason: string | null,
  ): Promise<void> {
    this.shutdown ??= (async () => {
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = null;
      const client = this.client;
      if (client) {
        const timeoutMs = this.opts.unregisterTimeoutMs ?? 3000;
        if (unregisterReason !== null && client.connected) {
          const unregister = this.publish({
            v: 1,
            type: "worker.unregister",
            workerId: this.opts.workerId,
            reason: unregisterReason,
          });
          await withTimeout(unregister, timeoutMs).catch((err: unknown) =>
            this.log.warn({ err }, "could not unregister"),
          );
        }
        await withTimeout(client.endAsync(!client.connected), timeoutMs).catch(
          () => client.end(true),
        );
      }
      this.startWaiter?.reject(
        new Error("the launcher stopped before it connected"),
      );
      this.startWaiter = null;
      this.log.info({ reason: exit.reason }, "disconnected");
      this.resolveClosed(exit);
    })();
    return this.shutdown;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
