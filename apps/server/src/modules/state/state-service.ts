import type { KeyObject } from "node:crypto";
import { ulid } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import type { Encryptor, SigningKey } from "../../platform/crypto/index.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { ConflictError, ForbiddenError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import type { SpaceAccess } from "../stacks/index.ts";
import {
  createStateCredentialSigner,
  type StateCredentials,
} from "./state-credentials.ts";
import {
  StateAccessDeniedError,
  StateLockedError,
  StateLockMismatchError,
  StateVersionNotFoundError,
} from "./state-errors.ts";
import { createStateRepo } from "./state-repo.ts";
import { findRunFacts } from "./state-run-query.ts";
import {
  findExternalReadFacts,
  findPendingRunIds,
  findStackAccessFacts,
} from "./state-stack-query.ts";
import {
  PLAN_OPERATION,
  externalReadRefusal,
  isLockStale,
  isUserHolder,
  judgeLock,
  judgeWrite,
  parseLockInfo,
  parseStateDocument,
  stateAccessRefusal,
  stateOutputs,
  userHolderId,
  userStateRefusal,
  type StateCaller,
  type StateLock,
  type StateOutput,
  type StateScope,
  type StateVersion,
} from "./state.ts";

/** Non-current versions are kept this long after they were superseded (spacelift-reference §1.5). */
export const STATE_VERSION_RETENTION_DAYS = 30;
/** An object with no row is deleted only once it is this old, so in-flight writes are never hit. */
export const ORPHAN_GRACE_MS = 60 * 60 * 1000;

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
interface Actor {
  id: string;
  name: string;
}

/**
 * The managed state backend and its history.
 *
 * Versioning invariants:
 * - Versions are immutable. Every accepted write that changes the bytes creates one; a
 *   write of the current bytes creates none. Lineage never changes under a current version
 *   and serials never go backwards (state.ts `judgeWrite`).
 * - The encrypted object is written BEFORE the row that points to it, under a key unique to
 *   the version, so a row never points to nothing. A write refused after the upload leaves
 *   an orphan object, which `collectOrphans` deletes after ORPHAN_GRACE_MS.
 * - Every mutation of one stack's state (write, LOCK, UNLOCK, rollback, delete, force
 *   unlock) runs in one transaction holding the stack's advisory lock, and re-reads the
 *   lock row, the current version and the caller's run inside it. Two racing writers are
 *   therefore judged one after the other against the committed result of the first; the
 *   partial unique index `state_versions_one_current_per_stack` backs this up.
 *
 * Locking invariants (no lock can become unclearable):
 * - A lock belongs to a run. It is stale once that run is terminal or gone; a stale lock
 *   blocks nobody and the next LOCK takes it over (logged at warn).
 * - A lock taken by a user outside the platform (external state access, `authenticateUser`)
 *   is never stale: nothing tells the server that the user's tofu ended. It is cleared by
 *   the user's UNLOCK (or `tofu force-unlock`) or by an admin's force-unlock.
 * - UNLOCK is idempotent (unlocking an unlocked state succeeds), and the holder may always
 *   release its own lock, even after its run ended.
 * - An admin can always `forceUnlock` (audited at warn).
 * - Read-only credentials (proposed runs) never take the lock: they cannot write, so
 *   excluding writers would only make proposed plans block tracked applies. Their LOCK for
 *   a plan succeeds without recording anything; a LOCK for any other operation is refused,
 *   so a mistaken `tofu apply` stops before it changes anything.
 */
export function createStateService(deps: StateServiceDeps) {
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

  async function forceUnlockAs(
    actor: Actor,
    stackId: string,
  ): Promise<StateLock | null> {
    const removed = await db.transaction().execute(async (tx) => {
      await repo.lockStack(tx, stackId);
      return repo.deleteLock(tx, stackId);
    });
    log.warn(
      {
        actor: actor.id,
        actorName: actor.name,
        stackId,
        lock: removed ?? null,
      },
      removed ? "force-unlocked state" : "force-unlock: state was not locked",
    );
    return removed ?? null;
  }

  /**
   * Creates a NEW current version with the content of `versionId`, its serial set to one
   * above the current serial: tofu refuses to continue from a state whose serial is
   * lower than the one it last saw, and history stays append-only. The lineage is the
   * old version's. Refused while a live run holds the lock, (with
   * `refuseWithPendingRuns`) while the stack has unfinished runs, and if the state
   * changed while the copy was being prepared (retry then). Audited at warn.
   */
  async function rollbackAs(
    actor: Actor,
    stackId: string,
    versionId: string,
    opts: { refuseWithPendingRuns?: boolean } = {},
  ): Promise<StateVersion> {
    const source = await repo.findVersion(stackId, versionId);
    if (!source) throw new StateVersionNotFoundError(stackId, versionId);
    const before = await repo.findCurrent(stackId);
    const doc = parseStateDocument(await readObject(source.objectKey)).doc;
    doc.serial = Math.max(source.serial, (before?.serial ?? -1) + 1);
    const content = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
    const next = parseStateDocument(content);
    const newVersionId = newId();
    const objectKey = await uploadObject(stackId, newVersionId, content);
    const version = await db.transaction().execute(async (tx) => {
      await repo.lockStack(tx, stackId);
      if (opts.refuseWithPendingRuns)
        await requireNoPendingRuns(tx, stackId, "roll back the state");
      const lock = await loadLock(tx, stackId);
      if (lock && !lock.stale) throw lockedError(lock, "write");
      const current = await repo.findCurrent(stackId, tx);
      if (current?.id !== before?.id)
        throw new ConflictError(
          "the state changed while the rollback was prepared; retry the rollback",
        );
      return repo.insertCurrent(tx, {
        id: newVersionId,
        stackId,
        runId: null,
        serial: next.serial,
        lineage: next.lineage,
        checksum: next.checksum,
        size: next.size,
        objectKey,
        createdBy: actor.id,
        restoredFromId: source.id,
        now: clock(),
      });
    });
    log.warn(
      {
        actor: actor.id,
        actorName: actor.name,
        stackId,
        restoredFromId: source.id,
        versionId: version.id,
        serial: version.serial,
      },
      "rolled back state",
    );
    return version;
  }

  return {
    /**
     * Credentials for a run's `backend "http"` block: username = run id, password = a JWT
     * (audience STATE_CREDENTIALS_AUDIENCE) naming the run, its stack, the scope and the
     * expiry. Give "write" to runs that may change infrastructure and "read" to proposed
     * runs; pick a TTL that covers the run's longest phase. The credentials are checked on
     * every request against the run's current state, so they stop working when the run
     * ends even before they expire.
     */
    async issueStateCredentials(input: {
      runId: string;
      stackId: string;
      scope: StateScope;
      ttlSeconds: number;
    }): Promise<StateCredentials & { address: string }> {
      const creds = await signer.issue(input);
      return { ...creds, address: backendAddress(input.stackId) };
    },

    /** The URL for `address`, `lock_address` and `unlock_address`. */
    backendAddress,

    /**
     * Verifies basic-auth state credentials for a request on `stackId`'s state. Only the
     * token is checked here (cheap, before a large body is read); the run is checked by
     * each operation.
     *
     * External state access: credentials of another stack's run are accepted read-only
     * (`readerStackId` set) when `stackId` allows external state access and its space is
     * the reader stack's space or an ancestor of it (state.ts `externalReadRefusal`).
     * This is re-checked on every request, so turning the setting off takes effect at once.
     */
    async authenticate(
      stackId: string,
      username: string,
      password: string,
    ): Promise<StateCaller> {
      const caller = await signer.verify(username, password);
      if (caller.stackId === stackId) return caller;
      const refusal = externalReadRefusal(
        await findExternalReadFacts(db, stackId, caller.stackId),
        caller.stackId,
      );
      if (refusal)
        throw new StateAccessDeniedError(
          `these state credentials are for stack ${caller.stackId}, not ${stackId}, and external state access is refused: ${refusal}`,
        );
      return {
        runId: caller.runId,
        stackId,
        scope: "read",
        readerStackId: caller.stackId,
      };
    },

    /**
     * A user outside the platform (API key id + secret, or username `token` and a session
     * JWT, resolved to `session` by the route) using `stackId`'s backend. Accepted only
     * when the stack allows external state access and the user can at least read its
     * space; what they may do then depends on their level (state.ts `userStateRefusal`).
     * Re-checked on every request.
     */
    async authenticateUser(
      stackId: string,
      session: Session,
    ): Promise<StateCaller> {
      const refuse = (why: string) =>
        new StateAccessDeniedError(
          `${session.name} may not use the state backend of stack ${stackId}: ${why}`,
        );
      if (!deps.access)
        throw refuse("this server accepts only run credentials here");
      const stack = await findStackAccessFacts(db, stackId);
      const level = stack
        ? await deps.access.accessLevel(session, stack.spaceId)
        : "NONE";
      if (!stack || level === "NONE")
        throw refuse("the stack does not exist or is not visible");
      if (!stack.externalStateAccess)
        throw refuse(
          "the stack does not allow external state access (vendorConfig externalStateAccessEnabled)",
        );
      return {
        runId: userHolderId(session),
        stackId,
        scope: level === "READ" ? "read" : "write",
        user: { name: session.name, level },
      };
    },

    /** The current state's plaintext, or null when the stack has none. */
    async readState(caller: StateCaller): Promise<Buffer | null> {
      await requireRun(db, caller, "read");
      const current = await repo.currentObjectKey(caller.stackId);
      return current ? readObject(current.objectKey) : null;
    },

    /**
     * Stores `content` as the stack's new current state. `lockId` is tofu's `?ID=`: when a
     * live lock is held it must name it (and the caller's run must hold it); naming a lock
     * that is no longer held is refused too, since the writer's lock was force-unlocked or
     * taken over and someone else may have written since.
     */
    async writeState(
      caller: StateCaller,
      content: Buffer,
      lockId: string | null,
    ): Promise<{ version: StateVersion; created: boolean }> {
      refuseExternal(caller, "write it");
      const next = parseStateDocument(content);
      await requireRun(db, caller, "write");
      // Cheap pre-check outside the transaction so a refused or unchanged write uploads
      // nothing; the transaction below repeats it authoritatively.
      const before = await repo.findCurrent(caller.stackId);
      if (judgeWrite(before, next) === "unchanged" && before)
        return { version: before, created: false };

      const versionId = newId();
      const objectKey = await uploadObject(caller.stackId, versionId, content);

      return db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, caller.stackId);
        await requireRun(tx, caller, "write");
        const lock = await loadLock(tx, caller.stackId);
        if (lock && !lock.stale) {
          if (lockId === null) throw lockedError(lock, "write");
          if (lock.lockId !== lockId || lock.runId !== caller.runId)
            throw new StateLockMismatchError(
              `the write names lock ${lockId}, but the state is locked by ${holderName(lock.runId)} with lock ${lock.lockId}`,
              lock.info,
            );
        } else if (lockId !== null) {
          throw new StateLockMismatchError(
            `the write names lock ${lockId}, which is no longer held (it was released, force-unlocked or taken over); refusing to write without the lock`,
            lock?.info ?? null,
          );
        }
        const current = await repo.findCurrent(caller.stackId, tx);
        if (judgeWrite(current, next) === "unchanged" && current)
          return { version: current, created: false };
        const version = await repo.insertCurrent(tx, {
          id: versionId,
          stackId: caller.stackId,
          runId: caller.user ? null : caller.runId,
          serial: next.serial,
          lineage: next.lineage,
          checksum: next.checksum,
          size: next.size,
          objectKey,
          createdBy: caller.user ? caller.runId : null,
          restoredFromId: null,
          now: clock(),
        });
        log.info(
          {
            stackId: caller.stackId,
            runId: caller.runId,
            versionId,
            serial: next.serial,
          },
          "stored state version",
        );
        return { version, created: true };
      });
    },

    /** LOCK: takes the stack's state lock for the caller's run (see the invariants above). */
    async lock(caller: StateCaller, body: Buffer): Promise<void> {
      refuseExternal(caller, "lock it");
      const request = parseLockInfo(body);
      if (caller.user) await requireRun(db, caller, "lock");
      else if (caller.scope === "read") {
        await requireRun(db, caller, "read");
        if (request.operation !== PLAN_OPERATION)
          throw new StateAccessDeniedError(
            `read-only state credentials of run ${caller.runId} may lock only for a plan, not ${request.operation ?? "an unnamed operation"}`,
          );
        return;
      }
      await db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, caller.stackId);
        await requireRun(tx, caller, caller.user ? "lock" : "write");
        const held = await loadLock(tx, caller.stackId);
        const decision = judgeLock(held, {
          lockId: request.id,
          runId: caller.runId,
        });
        if (decision === "held-by-caller") return;
        if (decision === "locked" && held) throw lockedError(held, "lock");
        if (held?.stale)
          log.warn(
            {
              stackId: caller.stackId,
              staleRunId: held.runId,
              staleLock: held.info,
              runId: caller.runId,
            },
            "taking over a stale state lock whose run has ended or no longer exists",
          );
        await repo.putLock(tx, {
          stackId: caller.stackId,
          lockId: request.id,
          runId: caller.runId,
          info: request.info,
          now: clock(),
        });
      });
    },

    /**
     * UNLOCK. The body is the LockInfo the lock was taken with; an empty body is what
     * `tofu force-unlock` sends, accepted only from the holder's own run. Releasing is
     * always safe, so the holder may release even after its run ended; anyone else gets a
     * 409. Unlocking an unlocked state succeeds.
     */
    async unlock(caller: StateCaller, body: Buffer): Promise<void> {
      refuseExternal(caller, "unlock it");
      const request = body.length === 0 ? null : parseLockInfo(body);
      if (caller.user) await requireRun(db, caller, "lock");
      else if (caller.scope === "read") {
        await requireRun(db, caller, "read");
        return;
      }
      await db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, caller.stackId);
        const held = await repo.findLock(caller.stackId, tx);
        if (!held) return;
        const mine =
          held.runId === caller.runId &&
          (request === null || request.id === held.lockId);
        if (!mine)
          throw new StateLockMismatchError(
            request === null
              ? `the state is locked by ${holderName(held.runId)} (lock ${held.lockId}), not by ${holderName(caller.runId)}; an admin can force-unlock it`
              : `lock ${request.id} is not the held lock: ${holderName(held.runId)} holds lock ${held.lockId}`,
            held.info,
          );
        await repo.deleteLock(tx, caller.stackId);
      });
    },

    /** The current lock, and whether it is stale (its run ended); for the UI and admins. */
    async getLock(
      stackId: string,
    ): Promise<(StateLock & { stale: boolean }) | null> {
      return (await loadLock(db, stackId)) ?? null;
    },

    /** Admin only: removes the lock whoever holds it. Audited at warn. */
    async forceUnlock(
      session: Session,
      stackId: string,
    ): Promise<StateLock | null> {
      requireAdmin(session, "force-unlock a stack's state");
      return forceUnlockAs(actorOf(session), stackId);
    },

    /**
     * Force-unlock for a caller its caller has authorised (the API checks stack admin on
     * the stack's space). Audited at warn.
     */
    forceUnlockAs,

    /** Rollback for an actor its caller has authorised (the API checks stack admin). */
    rollbackAs,

    /** Admin only (session admin); see `rollbackAs`. */
    async rollback(
      session: Session,
      stackId: string,
      versionId: string,
    ): Promise<StateVersion> {
      requireAdmin(session, "roll back a stack's state");
      return rollbackAs(actorOf(session), stackId, versionId);
    },

    /** One version's metadata, or null. */
    async findVersion(
      stackId: string,
      versionId: string,
    ): Promise<StateVersion | null> {
      const v = await repo.findVersion(stackId, versionId);
      if (!v) return null;
      const { objectKey: _key, ...version } = v;
      return version;
    },

    /**
     * DELETE (admin only): the stack keeps its history but has no current state, so the
     * next write may start a new lineage. Refused while a live run holds the lock.
     */
    async deleteState(session: Session, stackId: string): Promise<void> {
      requireAdmin(session, "delete a stack's state");
      await db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, stackId);
        const lock = await loadLock(tx, stackId);
        if (lock && !lock.stale) throw lockedError(lock, "write");
        if (lock) await repo.deleteLock(tx, stackId);
        await repo.supersedeCurrent(tx, stackId, clock());
      });
      log.warn(
        { actor: `${session.kind}:${session.id}`, stackId },
        "deleted the current state (history kept)",
      );
    },

    /** History, newest first. */
    /** Newest first; `after` (a version id of this stack) pages to older versions. */
    async listVersions(
      stackId: string,
      opts: { limit?: number; after?: string | null } = {},
    ): Promise<StateVersion[]> {
      const after = opts.after
        ? await repo.findVersion(stackId, opts.after)
        : null;
      if (opts.after && !after)
        throw new StateVersionNotFoundError(stackId, opts.after);
      return repo.listVersions(
        stackId,
        Math.min(opts.limit ?? 100, 1000),
        undefined,
        after ?? null,
      );
    },

    async getCurrentVersion(stackId: string): Promise<StateVersion | null> {
      return (await repo.findCurrent(stackId)) ?? null;
    },

    /** A version's decrypted content (the state file as tofu wrote it). */
    async getVersionContent(
      stackId: string,
      versionId: string,
    ): Promise<Buffer> {
      const version = await repo.findVersion(stackId, versionId);
      if (!version) throw new StateVersionNotFoundError(stackId, versionId);
      return readObject(version.objectKey);
    },

    /**
     * Makes `content` (a state file a user uploaded) the stack's new current version, as
     * is: any lineage and serial are accepted, since an import deliberately replaces the
     * state. The caller has authorised `actor` (stack admin, stack locked); here the
     * content must parse as a state, the stack may have no unfinished runs, and no live
     * run may hold the state lock, judged in the stack's state transaction. Importing the
     * current bytes again creates no version. Audited at warn.
     */
    async importVersion(input: {
      stackId: string;
      content: Buffer;
      actor: string;
    }): Promise<{ version: StateVersion; created: boolean }> {
      const { stackId, content, actor } = input;
      const next = parseStateDocument(content);
      const newVersionId = newId();
      const objectKey = await uploadObject(stackId, newVersionId, content);
      const result = await db.transaction().execute(async (tx) => {
        await repo.lockStack(tx, stackId);
        await requireNoPendingRuns(tx, stackId, "import a state");
        const lock = await loadLock(tx, stackId);
        if (lock && !lock.stale) throw lockedError(lock, "write");
        const current = await repo.findCurrent(stackId, tx);
        if (current && current.checksum === next.checksum)
          return { version: current, created: false };
        const version = await repo.insertCurrent(tx, {
          id: newVersionId,
          stackId,
          runId: null,
          serial: next.serial,
          lineage: next.lineage,
          checksum: next.checksum,
          size: next.size,
          objectKey,
          createdBy: actor,
          restoredFromId: null,
          now: clock(),
        });
        return { version, created: true, previous: current };
      });
      if (result.created)
        log.warn(
          {
            actor,
            stackId,
            versionId: result.version.id,
            serial: result.version.serial,
            lineage: result.version.lineage,
            previousLineage:
              "previous" in result ? (result.previous?.lineage ?? null) : null,
          },
          "imported state",
        );
      return { version: result.version, created: result.created };
    },

    /** Outputs of the current state; sensitive values are hidden (value null). */
    async outputs(stackId: string): Promise<StateOutput[]> {
      const current = await repo.currentObjectKey(stackId);
      if (!current) return [];
      return stateOutputs(
        parseStateDocument(await readObject(current.objectKey)).doc,
      );
    },

    /**
     * Deletes versions superseded more than STATE_VERSION_RETENTION_DAYS before `now`:
     * rows first, then objects (an object left behind by a failure is an orphan, collected
     * later). The current version has no superseded_at and is never deleted.
     */
    async expireVersions(now: Date): Promise<number> {
      const before = new Date(
        now.getTime() - STATE_VERSION_RETENTION_DAYS * 86_400_000,
      );
      let total = 0;
      for (;;) {
        const deleted = await repo.deleteSupersededBefore(before, 500);
        await deleteObjects(deleted.map((d) => d.objectKey));
        total += deleted.length;
        if (deleted.length < 500) return total;
      }
    },

    /**
     * Deletes objects in the states bucket that no version row points to and that are
     * older than ORPHAN_GRACE_MS (uploads whose write was refused or crashed, objects of
     * deleted stacks). The grace period keeps it off uploads whose row is about to commit.
     */
    async collectOrphans(now: Date): Promise<string[]> {
      const cutoff = now.getTime() - ORPHAN_GRACE_MS;
      const candidates = (await storage.list(bucket, ""))
        .filter((o) => o.modifiedAt.getTime() < cutoff)
        .map((o) => o.key);
      const orphans: string[] = [];
      for (let i = 0; i < candidates.length; i += 500) {
        const batch = candidates.slice(i, i + 500);
        const referenced = await repo.referencedObjectKeys(batch);
        orphans.push(...batch.filter((k) => !referenced.has(k)));
      }
      await deleteObjects(orphans);
      return orphans;
    },
  };
}

export type StateService = ReturnType<typeof createStateService>;
