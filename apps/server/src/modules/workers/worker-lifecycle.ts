import {
  allWritesFilter,
  encodeMessage,
  parseWorkerMessage,
  parseWorkerTopic,
  readonlyTopic,
  type ServerMessage,
  type WorkerMessage,
} from "@stackyard/protocol";
import type { Worker } from "./worker.ts";
import { WorkerNotFoundError } from "./worker-errors.ts";
import * as workers from "./worker-repo.ts";
import type { WorkerServiceDeps } from "./worker-service-deps.ts";

/**
 * The live side of the worker lifecycle over MQTT: registration, heartbeats, expiry,
 * drain and cycle.
 *
 * Message handling. Worker messages arrive on `<ns>/writeonly/<poolId>/<workerId>`; the
 * topic is the trusted identity (the broker ACL binds it to the connection's
 * credential), so a body naming another worker or pool is dropped. Messages of one
 * worker are handled strictly in arrival order (a per-worker promise chain), so a
 * heartbeat can never overtake the register before it; different workers proceed
 * concurrently. `handleMessage` never throws: a bad message is logged and dropped.
 */
export function createWorkerLifecycle(deps: WorkerServiceDeps) {
  const { db, transport, clock, namespace } = deps;
  const log = deps.log.child({ module: "workers" });
  const heartbeatIntervalSeconds =
    deps.heartbeatIntervalSeconds ??
    Math.min(10, deps.heartbeatTimeoutSeconds / 3);

  async function workersGone(ids: string[], reason: string): Promise<void> {
    if (ids.length === 0 || !deps.onWorkersGone) return;
    try {
      await deps.onWorkersGone(ids, reason);
    } catch (err) {
      // The reconciler fails runs of GONE workers on its next pass anyway.
      log.error(
        { err, workerIds: ids },
        "failing the runs of gone workers failed; the reconciler retries",
      );
    }
  }

  const chains = new Map<string, Promise<void>>();
  let started = false;
  const createdAt = clock();
  const startupGraceMs =
    (deps.startupGraceSeconds ?? deps.heartbeatTimeoutSeconds) * 1000;

  async function send(
    poolId: string,
    workerId: string,
    msg: ServerMessage,
  ): Promise<void> {
    await transport.publish(
      readonlyTopic(namespace, poolId, workerId),
      encodeMessage(msg),
    );
  }

  async function dispatch(
    poolId: string,
    workerId: string,
    msg: WorkerMessage,
  ): Promise<void> {
    const now = clock();
    switch (msg.type) {
      case "worker.register": {
        const worker = await workers.upsertRegisteredWorker(db, {
          id: workerId,
          poolId,
          metadata: msg.metadata,
          version: msg.version,
          now,
          busy: msg.status === "BUSY",
        });
        if (!worker) {
          log.warn(
            { poolId, workerId },
            "dropped worker.register: the worker id belongs to another pool",
          );
          return;
        }
        log.info(
          { poolId, workerId, version: msg.version },
          "worker registered",
        );
        await send(poolId, workerId, {
          v: 1,
          type: "worker.registered",
          workerId,
          heartbeatIntervalSeconds,
        });
        if (worker.drained)
          await send(poolId, workerId, {
            v: 1,
            type: "worker.drain",
            drained: true,
          });
        return;
      }
      case "worker.heartbeat": {
        const res = await workers.recordHeartbeat(db, {
          id: workerId,
          poolId,
          status: msg.status,
          now,
        });
        if (!res) {
          log.info(
            { poolId, workerId },
            "heartbeat from an unknown or expired worker; asking it to re-register",
          );
          await send(poolId, workerId, { v: 1, type: "worker.reregister" });
          return;
        }
        // Repairs a lost worker.drain: the worker reports a state contradicting the flag.
        if (
          (res.drained && msg.status === "IDLE") ||
          (!res.drained && msg.status === "DRAINED")
        ) {
          await send(poolId, workerId, {
            v: 1,
            type: "worker.drain",
            drained: res.drained,
          });
        }
        return;
      }
      case "worker.unregister": {
        const gone = await workers.markWorkerGone(db, {
          id: workerId,
          poolId,
          reason: `unregistered: ${msg.reason}`,
          now,
        });
        if (gone) {
          log.info(
            { poolId, workerId, reason: msg.reason },
            "worker unregistered",
          );
          await workersGone([workerId], `it unregistered (${msg.reason})`);
        }
        return;
      }
    }
  }

  async function handleMessageNow(
    topic: string,
    payload: Buffer,
  ): Promise<void> {
    const where = parseWorkerTopic(namespace, topic);
    if (!where || where.direction !== "writeonly") {
      log.warn({ topic }, "dropped message on an unexpected topic");
      return;
    }
    const parsed = parseWorkerMessage(payload);
    if (!parsed.ok) {
      log.warn(
        { topic, error: parsed.error },
        "dropped invalid worker message",
      );
      return;
    }
    const msg = parsed.msg;
    if (
      msg.workerId !== where.workerId ||
      (msg.type === "worker.register" && msg.poolId !== where.poolId)
    ) {
      log.warn(
        { topic, type: msg.type, workerId: msg.workerId },
        "dropped worker message whose body names another worker or pool",
      );
      return;
    }
    try {
      await dispatch(where.poolId, where.workerId, msg);
    } catch (err) {
      log.error(
        { err, topic, type: msg.type },
        "handling a worker message failed",
      );
    }
  }

  function handleMessage(topic: string, payload: Buffer): Promise<void> {
    const where = parseWorkerTopic(namespace, topic);
    const chainKey = where ? `${where.poolId}/${where.workerId}` : topic;
    const next = (chains.get(chainKey) ?? Promise.resolve())
      .then(() => handleMessageNow(topic, payload))
      .catch((err: unknown) =>
        log.error({ err, topic }, "handling a worker message failed"),
      );
    chains.set(chainKey, next);
    void next.finally(() => {
      if (chains.get(chainKey) === next) chains.delete(chainKey);
    });
    return next;
  }

  return {
    /** Handles one message from the writeonly topics; resolves once it is processed. Never throws. */
    handleMessage,

    /**
     * Marks workers silent for longer than the heartbeat timeout as GONE; returns their
     * ids. Idempotent: an already GONE worker is not touched again.
     *
     * Nothing expires during the startup grace (default: one timeout) after this
     * service was created: while no server ran (a restart, an outage), live workers could
     * not heartbeat either, and they get that long to reconnect before their silence
     * counts against them.
     */
    async expireWorkers(now: Date): Promise<string[]> {
      if (now.getTime() - createdAt.getTime() < startupGraceMs) return [];
      const olderThan = new Date(
        now.getTime() - deps.heartbeatTimeoutSeconds * 1000,
      );
      const ids = await workers.markWorkersGone(db, {
        olderThan,
        reason: `no heartbeat for ${deps.heartbeatTimeoutSeconds} s`,
        now,
      });
      for (const id of ids) {
        log.warn({ workerId: id }, "worker expired: no heartbeat");
      }
      await workersGone(
        ids,
        `no heartbeat for ${deps.heartbeatTimeoutSeconds} s`,
      );
      return ids;
    },

    /**
     * Drains (no new runs; the current one finishes) or undrains a worker. The flag is
     * stored first, then the worker is told; if the message is lost, the next heartbeat
     * reporting a contradicting status repairs it.
     */
    async setWorkerDrained(
      poolId: string,
      workerId: string,
      drained: boolean,
    ): Promise<Worker> {
      const worker = await workers.setWorkerDrained(db, {
        id: workerId,
        poolId,
        drained,
      });
      if (!worker) throw new WorkerNotFoundError(poolId, workerId);
      if (worker.status !== "GONE")
        await send(poolId, workerId, { v: 1, type: "worker.drain", drained });
      return worker;
    },

    /** Tells every live worker of the pool to exit after its current run; returns their ids. */
    async cyclePool(poolId: string): Promise<string[]> {
      const live = await workers.listWorkersByPool(db, poolId);
      await Promise.all(
        live.map((w) => send(poolId, w.id, { v: 1, type: "worker.cycle" })),
      );
      return live.map((w) => w.id);
    },

    /** Subscribes to every worker's writeonly topic. Call once, after the transport started. */
    async start(): Promise<void> {
      if (started) return;
      started = true;
      await transport.subscribe(
        allWritesFilter(namespace),
        (topic, payload) => {
          void handleMessage(topic, payload);
        },
      );
    },

    /** Waits for messages being handled. The transport stops delivering when it stops. */
    async stop(): Promise<void> {
      await Promise.all([...chains.values()]);
    },
  };
}
