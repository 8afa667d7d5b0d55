import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import {
  allWritesFilter,
  encodeMessage,
  encodePoolToken,
  parseWorkerMessage,
  parseWorkerTopic,
  readonlyTopic,
  type ServerMessage,
  type WorkerMessage,
} from "@stackyard/protocol";
import { ulid } from "ulid";
import type { WorkerTransport } from "../../platform/broker/worker-transport.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import {
  isForeignKeyViolation,
  type Database,
} from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { Worker, WorkerPool } from "./worker.ts";
import {
  generatePoolKeys,
  poolKeysFromCsr,
  type PoolKeys,
} from "./pool-keys.ts";
import { detachPoolFromEndedRuns } from "../runs/index.ts";
import {
  WorkerNotFoundError,
  WorkerPoolInUseError,
  WorkerPoolNotFoundError,
} from "./worker-errors.ts";
import * as pools from "./worker-pool-repo.ts";
import * as workers from "./worker-repo.ts";

export interface WorkerServiceDeps {
  db: Database;
  transport: Pick<WorkerTransport, "publish" | "subscribe">;
  clock: () => Date;
  log: Logger;
  /** A worker silent for longer than this is marked GONE by `expireWorkers`. */
  heartbeatTimeoutSeconds: number;
  /**
   * Nothing expires for this long after the service was created (a server start or
   * restart), so workers get to reconnect first; default the heartbeat timeout.
   */
  startupGraceSeconds?: number;
  /** Told to workers in `worker.registered`; default min(10, timeout / 3). */
  heartbeatIntervalSeconds?: number;
  /** MQTT topic namespace. */
  namespace: string;
  /** Public server URL, written into pool tokens. */
  serverUrl: string;
  /** Broker endpoint launchers connect to, written into pool tokens (`host:port` means mqtt://). */
  brokerEndpoint: string;
  newPoolId?: () => string;
  /** Key pair generation for pools created without a CSR; default RSA 4096 (`generatePoolKeys`). */
  generateKeys?: () => PoolKeys;
  /**
   * Called after workers were marked GONE (expired or unregistered), so whoever runs work
   * on them can fail it. Injected by the composition root: the runs module fails the runs
   * these workers held. Errors are logged, never thrown into the caller.
   */
  onWorkersGone?: (workerIds: string[], reason: string) => Promise<unknown>;
  /**
   * Encrypts the pool token kept for `WorkerPool.config`, which the Terraform provider
   * reads back on every refresh. Absent: tokens are not kept and `config` reads "".
   */
  encryptor?: Pick<Encryptor, "encrypt" | "decrypt">;
  /**
   * Closes the live MQTT connections of a pool's workers (the built-in broker can; an
   * external broker cannot, and old sessions then last until they reconnect). Used when
   * the pool's credential is reset.
   */
  disconnectPool?: (poolId: string) => Promise<number> | number;
}

/** A pool's credential and token exist only in this value; the database keeps a hash. */
export interface IssuedPoolToken {
  pool: WorkerPool;
  credential: string;
  token: string;
  /**
   * The pool's private key (PEM, PKCS#8) when Stackyard generated the pair now: shown
   * once, never stored. Null when the caller sent a CSR (they keep the private key) or
   * the key pair did not change.
   */
  privateKeyPem: string | null;
}

export function hashCredential(credential: string): string {
  return createHash("sha256").update(credential).digest("hex");
}

// Compared against when the pool does not exist, so a miss costs the same as a mismatch.
const MISSING_POOL_HASH = hashCredential("no such pool");

/**
 * The server side of the worker lifecycle: pool credentials, registration, heartbeats,
 * expiry, drain and cycle.
 *
 * Message handling. Worker messages arrive on `<ns>/writeonly/<poolId>/<workerId>`; the
 * topic is the trusted identity (the broker ACL binds it to the connection's
 * credential), so a body naming another worker or pool is dropped. Messages of one
 * worker are handled strictly in arrival order (a per-worker promise chain), so a
 * heartbeat can never overtake the register before it; different workers proceed
 * concurrently. `handleMessage` never throws: a bad message is logged and dropped.
 */
export function createWorkerService(deps: WorkerServiceDeps) {
  const { db, transport, clock, namespace } = deps;
  const log = deps.log.child({ module: "workers" });
  const heartbeatIntervalSeconds =
    deps.heartbeatIntervalSeconds ??
    Math.min(10, deps.heartbeatTimeoutSeconds / 3);
  const brokerEndpoint = /^[a-z]+:\/\//.test(deps.brokerEndpoint)
    ? deps.brokerEndpoint
    : `mqtt://${deps.brokerEndpoint}`;
  const newPoolId = deps.newPoolId ?? (() => `wp_${ulid().toLowerCase()}`);
  const generateKeys = deps.generateKeys ?? generatePoolKeys;

  function keysFor(csr: string | null | undefined): PoolKeys {
    return csr?.trim() ? poolKeysFromCsr(csr.trim()) : generateKeys();
  }

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

  function issue(
    pool: WorkerPool,
    credential: string,
    privateKeyPem: string | null,
  ): IssuedPoolToken {
    const token = encodePoolToken({
      serverUrl: deps.serverUrl,
      brokerEndpoint,
      poolId: pool.id,
      credential,
      namespace,
    });
    return { pool, credential, token, privateKeyPem };
  }

  /** Stores the issued token encrypted, so `poolToken` can answer it later. */
  async function keep(issued: IssuedPoolToken): Promise<IssuedPoolToken> {
    if (deps.encryptor)
      await pools.storeWorkerPoolToken(
        db,
        issued.pool.id,
        deps.encryptor.encrypt(issued.token),
      );
    return issued;
  }

  function newCredential(): string {
    return randomBytes(32).toString("base64url");
  }

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
    /**
     * MQTT credential check for the built-in broker: username = pool id, password = the
     * pool credential. Constant-time comparison of the sha256 digests.
     */
    async authenticate(
      username: string,
      password: string,
    ): Promise<{ poolId: string } | null> {
      const stored = await pools.findWorkerPoolTokenHash(db, username);
      const expected = Buffer.from(stored ?? MISSING_POOL_HASH, "hex");
      const actual = Buffer.from(hashCredential(password), "hex");
      const match =
        expected.length === actual.length && timingSafeEqual(expected, actual);
      return match && stored !== null ? { poolId: username } : null;
    },

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
     * Creates a pool with a fresh credential and a key pair: the public key of `csr`
     * (PEM or base64 of one; the caller keeps the private key), or a generated pair whose
     * private key is returned once in `privateKeyPem`.
     */
    async createPool(input: {
      name: string;
      spaceId: string;
      description?: string;
      csr?: string | null;
    }): Promise<IssuedPoolToken> {
      const name = input.name.trim();
      if (!name) throw new ValidationError("a worker pool needs a name");
      const keys = keysFor(input.csr);
      const credential = newCredential();
      const pool = await pools
        .insertWorkerPool(db, {
          id: newPoolId(),
          name,
          description: input.description ?? "",
          spaceId: input.spaceId,
          tokenHash: hashCredential(credential),
          publicKey: keys.publicKeyPem,
        })
        .catch((err: unknown) => missingSpace(err, input.spaceId));
      return keep(issue(pool, credential, keys.privateKeyPem));
    },

    /**
     * Finds or creates the default pool and issues it a fresh credential and key pair.
     * Neither the token nor the private key is recoverable after issue, so an existing
     * default pool gets new ones: launchers still holding the old token are refused on
     * their next connect, and secrets are sealed to the new key from now on.
     */
    async ensureDefaultPool(): Promise<IssuedPoolToken> {
      const keys = generateKeys();
      const credential = newCredential();
      const tokenHash = hashCredential(credential);
      const { pool, created } = await pools.findOrCreateDefaultPool(db, {
        id: newPoolId(),
        tokenHash,
        publicKey: keys.publicKeyPem,
      });
      if (!created)
        await pools.updateWorkerPoolTokenHash(
          db,
          pool.id,
          tokenHash,
          keys.publicKeyPem,
        );
      return keep(issue(pool, credential, keys.privateKeyPem));
    },

    /**
     * Issues a new credential (Spacelift's "reset") and cuts the old one off at once:
     * new connections need the new token, and the pool's live connections are closed
     * when the broker allows it (`disconnectPool`; the built-in broker does, an external
     * broker keeps old sessions until they reconnect). With a CSR the pool's public key
     * is replaced by the CSR's; without one the key pair is kept.
     */
    async resetPoolToken(
      poolId: string,
      opts: { csr?: string | null } = {},
    ): Promise<IssuedPoolToken> {
      const keys = opts.csr?.trim() ? poolKeysFromCsr(opts.csr.trim()) : null;
      const credential = newCredential();
      if (
        !(await pools.updateWorkerPoolTokenHash(
          db,
          poolId,
          hashCredential(credential),
          keys?.publicKeyPem,
        ))
      ) {
        throw new WorkerPoolNotFoundError(poolId);
      }
      const pool = await pools.findWorkerPoolById(db, poolId);
      if (!pool) throw new WorkerPoolNotFoundError(poolId);
      if (deps.disconnectPool) {
        const closed = await deps.disconnectPool(poolId);
        if (closed > 0)
          log.info(
            { poolId, closed },
            "closed the pool's connections after a credential reset",
          );
      }
      return keep(issue(pool, credential, null));
    },

    /** The pool token as last issued (`WorkerPool.config`); "" when none was kept. */
    async poolToken(poolId: string): Promise<string> {
      const sealed = await pools.findWorkerPoolTokenEncrypted(db, poolId);
      if (!sealed || !deps.encryptor) return "";
      return deps.encryptor.decrypt(sealed).toString("utf8");
    },

    /** Pools in the given spaces ("all": every pool), by name. */
    listPools(spaces: readonly string[] | "all"): Promise<WorkerPool[]> {
      return pools.listWorkerPools(db, spaces);
    },

    /** Renames, re-describes, relabels or moves a pool; its credential is unchanged. */
    async updatePool(
      poolId: string,
      input: {
        name: string;
        description?: string | null;
        labels?: readonly string[] | null;
        spaceId: string;
      },
    ): Promise<WorkerPool> {
      const name = input.name.trim();
      if (!name) throw new ValidationError("a worker pool needs a name");
      const pool = await pools
        .updateWorkerPool(db, poolId, {
          name,
          description: input.description ?? "",
          labels: [...(input.labels ?? [])],
          spaceId: input.spaceId,
        })
        .catch((err: unknown) => missingSpace(err, input.spaceId));
      if (!pool) throw new WorkerPoolNotFoundError(poolId);
      return pool;
    },

    /**
     * Deletes a pool and its worker rows. Refused for the default pool, a pool stacks
     * still name, and a pool with runs that have not ended; ended runs lose their pool
     * reference through the runs module (`detachPoolFromEndedRuns`). All in one
     * transaction, so a run cannot be queued on the pool between the check and the delete
     * (its insert waits on the pool row's foreign key, then fails).
     */
    async deletePool(poolId: string): Promise<WorkerPool> {
      return db.transaction().execute(async (tx) => {
        const pool = await pools.findWorkerPoolById(tx, poolId);
        if (!pool) throw new WorkerPoolNotFoundError(poolId);
        if (pool.isDefault)
          throw new WorkerPoolInUseError(poolId, "it is the default pool");
        const stacks = await pools.stacksUsingPool(tx, poolId);
        if (stacks.length > 0)
          throw new WorkerPoolInUseError(
            poolId,
            `stacks use it (${stacks.join(", ")}); move them to another pool first`,
          );
        const { activeRunIds } = await detachPoolFromEndedRuns(tx, poolId);
        if (activeRunIds.length > 0)
          throw new WorkerPoolInUseError(
            poolId,
            `runs have not ended yet (${activeRunIds.join(", ")})`,
          );
        const deleted = await pools.deleteWorkerPool(tx, poolId);
        if (!deleted) throw new WorkerPoolNotFoundError(poolId);
        return deleted;
      });
    },

    async poolExists(poolId: string): Promise<boolean> {
      return (await pools.findWorkerPoolById(db, poolId)) !== null;
    },

    getPool(poolId: string): Promise<WorkerPool | null> {
      return pools.findWorkerPoolById(db, poolId);
    },

    listWorkers(
      poolId: string,
      opts: { includeGone?: boolean } = {},
    ): Promise<Worker[]> {
      return workers.listWorkersByPool(db, poolId, opts);
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

export type WorkerService = ReturnType<typeof createWorkerService>;

/** A foreign key violation on the pool's space: the caller named a space that does not exist. */
function missingSpace(err: unknown, spaceId: string): never {
  if (isForeignKeyViolation(err))
    throw new ValidationError(`space: no space ${spaceId} exists`, {
      cause: err,
    });
  throw err;
}
