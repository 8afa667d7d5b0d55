import type { Session } from "../auth/index.ts";
import type { StateCredentials } from "./state-credentials.ts";
import {
  StateAccessDeniedError,
  StateLockMismatchError,
} from "./state-errors.ts";
import {
  findExternalReadFacts,
  findStackAccessFacts,
} from "./state-stack-query.ts";
import type { StateServiceDeps, StateStore } from "./state-store.ts";
import {
  PLAN_OPERATION,
  externalReadRefusal,
  judgeLock,
  judgeWrite,
  parseLockInfo,
  parseStateDocument,
  userHolderId,
  type StateCaller,
  type StateScope,
  type StateVersion,
} from "./state.ts";

/**
 * The HTTP state backend's use cases: credentials for runs, authenticating a request
 * (run credentials, external readers, users outside the platform), and GET / POST /
 * LOCK / UNLOCK of the current state, under the invariants in state-service.ts.
 */
export function createStateBackend(
  store: StateStore,
  deps: Pick<StateServiceDeps, "access">,
) {
  const {
    db,
    log,
    clock,
    newId,
    repo,
    signer,
    backendAddress,
    requireRun,
    readObject,
    uploadObject,
    loadLock,
    lockedError,
    holderName,
    refuseExternal,
  } = store;

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
  };
}
