import type { WorkerTransport } from "../../platform/broker/worker-transport.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { PoolKeys } from "./pool-keys.ts";

/** What the workers service needs; its use-case files share it (one leaf, no cycle). */
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
