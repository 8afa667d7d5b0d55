import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { encodePoolToken } from "@stackyard/protocol";
import { ulid } from "ulid";
import { isForeignKeyViolation } from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import { detachPoolFromEndedRuns } from "../runs/index.ts";
import type { Worker, WorkerPool } from "./worker.ts";
import {
  generatePoolKeys,
  poolKeysFromCsr,
  type PoolKeys,
} from "./pool-keys.ts";
import {
  WorkerPoolInUseError,
  WorkerPoolNotFoundError,
} from "./worker-errors.ts";
import * as pools from "./worker-pool-repo.ts";
import * as workers from "./worker-repo.ts";
import type { WorkerServiceDeps } from "./worker-service-deps.ts";

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
 * Pools and their credentials: the broker's credential check, creating, resetting,
 * updating and deleting pools, and reading pools and their workers. A pool's credential
 * and private key are shown once (`IssuedPoolToken`); the database keeps a hash, the
 * public key and (with an encryptor) the encrypted token.
 */
export function createWorkerPoolAdmin(deps: WorkerServiceDeps) {
  const { db, namespace } = deps;
  const log = deps.log.child({ module: "workers" });
  const brokerEndpoint = /^[a-z]+:\/\//.test(deps.brokerEndpoint)
    ? deps.brokerEndpoint
    : `mqtt://${deps.brokerEndpoint}`;
  const newPoolId = deps.newPoolId ?? (() => `wp_${ulid().toLowerCase()}`);
  const generateKeys = deps.generateKeys ?? generatePoolKeys;

  function keysFor(csr: string | null | undefined): PoolKeys {
    return csr?.trim() ? poolKeysFromCsr(csr.trim()) : generateKeys();
  }

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
  };
}

/** A foreign key violation on the pool's space: the caller named a space that does not exist. */
function missingSpace(err: unknown, spaceId: string): never {
  if (isForeignKeyViolation(err))
    throw new ValidationError(`space: no space ${spaceId} exists`, {
      cause: err,
    });
  throw err;
}
