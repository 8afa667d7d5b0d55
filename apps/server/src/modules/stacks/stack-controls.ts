import { NotImplementedError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import type { StackView } from "./stack.ts";
import {
  AccessDeniedError,
  StackBranchNotFoundError,
  StackLockedError,
  StackNotFoundError,
  StackNotLockedError,
} from "./stack-errors.ts";
import * as stacks from "./stack-repo.ts";
import {
  lockHolder,
  type StackGuards,
  type StackServiceDeps,
} from "./stack-guards.ts";

const SHA_PATTERN = /^[0-9a-f]{7,64}$/i;

/**
 * The stack's switches: the user lock (and the system locks push policies take), enabled
 * or disabled, and the tracked commit (set, or synced to the branch head).
 */
export function createStackControls(
  deps: Pick<StackServiceDeps, "branchHeads">,
  guards: StackGuards,
) {
  const { db, clock, writable, view } = guards;

  return {
    async lockStack(
      session: Session,
      id: string,
      note?: string | null,
    ): Promise<StackView> {
      await writable(session, id);
      const holder = lockHolder(session);
      const locked = await stacks.takeLock(
        db,
        id,
        holder,
        note?.trim() ? note : null,
        clock(),
      );
      if (!locked) {
        const current = await stacks.findStack(db, id);
        if (!current) throw new StackNotFoundError(id);
        throw new StackLockedError(id, current.lockedBy ?? "someone else");
      }
      return view(id);
    },

    /** Unlocks; only the holder, or an admin (session or space ADMIN), may. */
    async unlockStack(session: Session, id: string): Promise<StackView> {
      const { stack, level } = await writable(session, id);
      if (!stack.lockedBy) throw new StackNotLockedError(id);
      const holder = lockHolder(session);
      const isAdmin = session.admin || level === "ADMIN";
      if (stack.lockedBy !== holder && !isAdmin) {
        throw new AccessDeniedError(
          `stack ${id} is locked by ${stack.lockedBy}; only they or an admin can unlock it`,
        );
      }
      const released = await stacks.releaseLock(
        db,
        id,
        isAdmin ? null : holder,
        clock(),
      );
      if (!released) throw new StackNotLockedError(id);
      return view(id);
    },

    // ---- Locks taken by the system (VCS push policy `lock` / `unlock`). No session: the
    // caller acts for an event already accepted for the stack. The holder is the lock id
    // as given, like a user lock's holder name, so that user may unlock it.

    /** Locks for `holder` unless another holder has it (atomic; relocking keeps it). */
    async lockForSystem(
      id: string,
      holder: string,
      note: string,
    ): Promise<{ locked: boolean; lockedBy: string | null }> {
      const locked = await stacks.takeLock(db, id, holder, note, clock());
      if (locked) return { locked: true, lockedBy: holder };
      const current = await stacks.findStack(db, id);
      if (!current) throw new StackNotFoundError(id);
      return { locked: false, lockedBy: current.lockedBy };
    },

    /** Unlocks only if `holder` holds the lock (atomic); false otherwise. */
    async unlockForSystem(id: string, holder: string): Promise<boolean> {
      return (await stacks.releaseLock(db, id, holder, clock())) !== null;
    },

    async enableStack(session: Session, id: string): Promise<StackView> {
      await writable(session, id);
      await stacks.setDisabled(db, id, false, clock());
      return view(id);
    },

    async disableStack(session: Session, id: string): Promise<StackView> {
      await writable(session, id);
      await stacks.setDisabled(db, id, true, clock());
      return view(id);
    },

    /** Sets the tracked commit (the sha new tracked runs use). */
    async setCurrentCommit(
      session: Session,
      id: string,
      sha: string,
    ): Promise<StackView> {
      const trimmed = sha.trim();
      if (!SHA_PATTERN.test(trimmed)) {
        throw new ValidationError(
          "stackSetCurrentCommit sha: must be a hexadecimal git commit sha",
        );
      }
      await writable(session, id);
      await stacks.setTrackedCommit(db, id, {
        sha: trimmed.toLowerCase(),
        setBy: lockHolder(session),
        at: clock(),
      });
      return view(id);
    },

    /** Sets the tracked commit to the head of the stack's branch (`stackSyncCommit`). */
    async syncCommit(session: Session, id: string): Promise<StackView> {
      const { stack } = await writable(session, id);
      if (!deps.branchHeads)
        throw new NotImplementedError(
          "stackSyncCommit is not supported by this server: it has no VCS module",
        );
      const sha = await deps.branchHeads.headOf(stack);
      if (!sha) throw new StackBranchNotFoundError(id, stack.branch);
      await stacks.setTrackedCommit(db, id, {
        sha,
        setBy: lockHolder(session),
        at: clock(),
      });
      return view(id);
    },
  };
}
