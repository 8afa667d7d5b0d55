import type { KeyObject } from "node:crypto";
import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import type { Encryptor, SigningKey } from "../../platform/crypto/index.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { ConflictError, ForbiddenError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import type { SpaceAccess } from "../stacks/index.ts";
import { createStateCredentialSigner } from "./state-credentials.ts";
import { StateAccessDeniedError, StateLockedError } from "./state-errors.ts";
import { createStateRepo } from "./state-repo.ts";
import { findRunFacts } from "./state-run-query.ts";
import { findPendingRunIds } from "./state-stack-query.ts";
import {
  isLockStale,
  isUserHolder,
  stateAccessRefusal,
  userStateRefusal,
  type StateCaller,
  type StateLock,
} from "./state.ts";

export interface StateServiceDeps {
  db: Database;
  storage: BlobStore;
  encryptor: Encryptor;
  /** The states bucket (config.objectStorage.buckets.states). */
  bucket: string;
  /** The instance signing key (RSA private key or KMS-backed SigningKey); signs state credentials under their own audience. */
  privateKey: KeyObject | SigningKey;
  /** config.server.publicUrl: the credentials' issuer and the backend address's base. */
  publicUrl: string;
  log: Logger;
  /**
   * Space access, for users who use the backend with their own credentials (external
   * state access). Without it only run credentials are accepted.
   */
  access?: Pick<SpaceAccess, "accessLevel">;
  clock?: () => Date;
  newId?: () => string;
}

type Kind = "write" | "lock" | "unlock";
/** Who performed an audited operation: `<kind>:<id>` and a display name. */
export interface Actor {
  id: string;
  name: string;
}

/**
 * What the state service's use cases share (state-backend.ts, state-history.ts,
 * state-retention.ts): the repository, the encrypted objects of the states bucket, and
 * the checks every mutation repeats inside the stack's state transaction (see the
 * invariants in state-service.ts).
 */
export function createStateStore(deps: StateServiceDeps) {
  const { db, storage, encryptor, bucket, log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const newId = deps.newId ?? (() => `sv_${ulid().toLowerCase()}`);
  const repo = createStateRepo(db);
  const signer = createStateCredentialSigner({
    privateKey: deps.privateKey,
    issuer: deps.publicUrl,
    now: () => Math.floor(clock().getTime() / 1000),
  });
  const baseUrl = deps.publicUrl.replace(/\/+$/, "");

  const backendAddress = (stackId: string) =>
    `${baseUrl}/state/${encodeURIComponent(stackId)}`;
  const objectKeyFor = (stackId: string, versionId: string) =>
    `${stackId}/${versionId}.tfstate.enc`;

  /** `what`: "lock" is LOCK/UNLOCK, "write" a POST; runs need write access for both. */
  async function requireRun(
    q: Database,
    caller: StateCaller,
    what: "read" | "lock" | "write",
  ): Promise<void> {
    const access = what === "read" ? "read" : "write";
    const refusal = caller.user
      ? userStateRefusal(caller.user, what)
      : stateAccessRefusal(await findRunFacts(q, caller.runId), caller, access);
    if (refusal)
      throw new StateAccessDeniedError(
        `${access === "read" ? "reading" : "changing"} the state of stack ${caller.stackId} is refused: ${refusal}`,
      );
  }

  function requireAdmin(session: Session, what: string): void {
    if (!session.admin) throw new ForbiddenError(`only an admin may ${what}`);
  }

  async function readObject(objectKey: string): Promise<Buffer> {
    try {
      return encryptor.decrypt(
        (await storage.get(bucket, objectKey)).toString("utf8"),
      );
    } catch (err) {
      throw new Error(`reading state object ${objectKey}`, { cause: err });
    }
  }

  /** Encrypts and uploads; the caller inserts the row only after this resolved. */
  async function uploadObject(
    stackId: string,
    versionId: string,
    content: Buffer,
  ): Promise<string> {
    const key = objectKeyFor(stackId, versionId);
    await storage.put(bucket, key, encryptor.encrypt(content), {
      contentType: "application/octet-stream",
    });
    return key;
  }

  /** The lock row, with its holder's staleness judged on the same transaction. */
  async function loadLock(
    q: Database,
    stackId: string,
  ): Promise<(StateLock & { stale: boolean }) | undefined> {
    const lock = await repo.findLock(stackId, q);
    if (!lock) return undefined;
    if (isUserHolder(lock.runId)) return { ...lock, stale: false };
    const holder = await findRunFacts(q, lock.runId);
    return { ...lock, stale: isLockStale(holder) };
  }

  function lockedError(lock: StateLock, what: Kind): StateLockedError {
    return new StateLockedError(
      `the state of stack ${lock.stackId} is locked by ${holderName(lock.runId)} (lock ${lock.lockId}); cannot ${what}`,
      lock.info,
    );
  }

  /** Refuses (409) while the stack has runs that are not terminal; on the caller's transaction. */
  async function requireNoPendingRuns(
    q: Database,
    stackId: string,
    what: string,
  ): Promise<void> {
    const pending = await findPendingRunIds(q, stackId);
    if (pending.length > 0)
      throw new ConflictError(
        `cannot ${what}: stack ${stackId} has runs that have not finished (${pending.join(", ")}); wait for them to end or discard them first`,
      );
  }

  function holderName(holderId: string): string {
    return isUserHolder(holderId) ? holderId : `run ${holderId}`;
  }

  /** External callers (another stack's run) may only GET. */
  function refuseExternal(caller: StateCaller, what: string): void {
    if (caller.readerStackId !== undefined)
      throw new StateAccessDeniedError(
        `run ${caller.runId} of stack ${caller.readerStackId} has external, read-only access to the state of stack ${caller.stackId}; it may not ${what}`,
      );
  }

  async function deleteObjects(keys: string[]): Promise<void> {
    for (const key of keys) await storage.delete(bucket, key);
  }

  /** How an audited operation names its actor: `createdBy` and the log's actor fields. */
  function actorOf(session: Session): Actor {
    return { id: `${session.kind}:${session.id}`, name: session.name };
  }

  return {
    db,
    storage,
    bucket,
    log,
    encryptor,
    clock,
    newId,
    repo,
    signer,
    backendAddress,
    requireRun,
    requireAdmin,
    readObject,
    uploadObject,
    loadLock,
    lockedError,
    requireNoPendingRuns,
    holderName,
    refuseExternal,
    deleteObjects,
    actorOf,
  };
}

export type StateStore = ReturnType<typeof createStateStore>;
