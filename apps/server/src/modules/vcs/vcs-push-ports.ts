import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type {
  PullRequestEvent,
  PushEvent,
  VcsIntegration,
} from "./provider.ts";
import type { PushDecider } from "./push-decision.ts";
import * as events from "./vcs-event-repo.ts";

/**
 * What the VCS module needs from the runs module, injected by the composition root (the
 * runs module is never imported here).
 */
export interface VcsRunsPort {
  /**
   * Creates a QUEUED run on the event's commit. `inTx` runs in the run's insert
   * transaction; a throw there rolls the run back. Throws an AppError when the stack
   * refuses runs (disabled, locked by a user, no worker pool).
   */
  createRun(
    input: {
      stackId: string;
      runType: "TRACKED" | "PROPOSED";
      commitSha: string;
      commit: { message: string; author: string; at: Date | null };
      branch: string;
      triggeredBy: string;
      note: string;
      /**
       * A push policy's lock id: the run is allowed while the stack is locked by exactly
       * this id (the push that holds the lock may run), as it would be for the holder.
       */
      lockId?: string | null;
      /** A push policy's `prioritize`: the run is created prioritized. */
      prioritized?: boolean;
    },
    inTx: (tx: Database, runId: string) => Promise<void>,
  ): Promise<{ id: string }>;
  /** Cancels a run that has not started, or stops one that has; a run past both is left alone. */
  stopRun(ref: { stackId: string; runId: string }, note: string): Promise<void>;
  /**
   * Cancels a run of this stack that has not started (the runs module's cancel action).
   * Throws an AppError when it cannot: not a run of the stack, started, or ended.
   */
  cancelRun(
    ref: { stackId: string; runId: string },
    note: string,
  ): Promise<void>;
}

/**
 * What the push pipeline needs from the stacks module for push policy rules, injected by
 * the composition root. Lock ids are the stack lock's holder string, as user locks are.
 */
export interface VcsStacksPort {
  /**
   * Locks the stack for `holder` unless another holder has it (atomic); relocking by the
   * same holder succeeds. `lockedBy` is the other holder on refusal.
   */
  lock(
    stackId: string,
    holder: string,
    note: string,
  ): Promise<{ locked: boolean; lockedBy: string | null }>;
  /** Unlocks the stack only if `holder` holds it (atomic); false otherwise. */
  unlock(stackId: string, holder: string): Promise<boolean>;
  /** Sets the stack's tracked commit (what a later manual tracked run uses). */
  setTrackedCommit(stackId: string, sha: string, setBy: string): Promise<void>;
}

/** A normalized event plus where it came from. */
export interface PipelineEvent {
  eventId: string;
  source: "WEBHOOK" | "POLL";
  deliveryId: string | null;
  /** null: a raw git stack polled without an integration. */
  integration: Pick<
    VcsIntegration,
    "id" | "name" | "provider" | "isDefault" | "labels" | "spaceId"
  > | null;
  event: PushEvent | PullRequestEvent;
}

export interface StackOutcome {
  stackId: string;
  outcome: events.Outcome;
  runId: string | null;
  reason: string;
}

export interface PushPipelineDeps {
  db: Database;
  runs: VcsRunsPort;
  log: Logger;
  clock: () => Date;
  /** The push decision hook; `decidePush` unless a push policy engine is wired. */
  pushDecider?: PushDecider;
  /** Stack lock and tracked commit for push policy rules; without it those rules are noted as not applied. */
  stacks?: VcsStacksPort;
  /**
   * Stores a push policy's flags on the run it created, in the run's insert transaction
   * (the policies module's flag storage, so later policy types read them as `run.flags`).
   */
  recordRunFlags?: (
    tx: Database,
    runId: string,
    flags: readonly string[],
  ) => Promise<void>;
}
