import { createStateBackend } from "./state-backend.ts";
import { createStateHistory } from "./state-history.ts";
import { createStateRetention } from "./state-retention.ts";
import { createStateStore, type StateServiceDeps } from "./state-store.ts";

export type { StateServiceDeps } from "./state-store.ts";
export {
  ORPHAN_GRACE_MS,
  STATE_VERSION_RETENTION_DAYS,
} from "./state-retention.ts";

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
 *
 * The use cases live by concern: the HTTP backend (state-backend.ts), history, locks and
 * repairs (state-history.ts), and retention (state-retention.ts), over the shared checks
 * of state-store.ts.
 */
export function createStateService(deps: StateServiceDeps) {
  const store = createStateStore(deps);
  return {
    ...createStateBackend(store, deps),
    ...createStateHistory(store),
    ...createStateRetention(store),
  };
}

export type StateService = ReturnType<typeof createStateService>;
