/**
 * Every run state and run type, and every named set of states, in one place. The run
 * rules (runs/run.ts), every module that reasons about run states (policies, vcs, state,
 * workers), the runs repository's SQL and the migrations' SQL predicates all use these
 * sets; run-status.db.test.ts holds the migrations to them. No imports: a leaf that any
 * module may import, whatever its place in the module order.
 *
 * Predicates take `string` so that callers holding a state read from the database or a
 * queue payload need no cast.
 */

/** GraphQL `RunType` values Stackyard runs. `TESTING` and `PARSE` (module tests) are not supported. */
export const RUN_TYPES = ["TRACKED", "PROPOSED", "TASK", "DESTROY"] as const;
export type RunType = (typeof RUN_TYPES)[number];

/** Every GraphQL `RunState` value, in the enum's order. */
export const RUN_STATES = [
  "QUEUED",
  "CANCELED",
  "INITIALIZING",
  "PLANNING",
  "FAILED",
  "FINISHED",
  "UNCONFIRMED",
  "DISCARDED",
  "CONFIRMED",
  "APPLYING",
  "PERFORMING",
  "STOPPED",
  "DESTROYING",
  "PREPARING",
  "PREPARING_APPLY",
  "SKIPPED",
  "REPLAN_REQUESTED",
  "PENDING",
  "READY",
  "PREPARING_REPLAN",
  "PENDING_REVIEW",
] as const;
export type RunState = (typeof RUN_STATES)[number];

/** States with no exit: the run has ended. */
export const TERMINAL_STATES = [
  "CANCELED",
  "DISCARDED",
  "FAILED",
  "FINISHED",
  "SKIPPED",
  "STOPPED",
] as const satisfies readonly RunState[];
export type TerminalState = (typeof TERMINAL_STATES)[number];

/** Terminal states in which the run did not do its work: reported as a failure (VCS commit status). */
export const FAILURE_STATES = [
  "CANCELED",
  "DISCARDED",
  "FAILED",
  "STOPPED",
] as const satisfies readonly TerminalState[];

/** The states a run of each type can reach from QUEUED; run.test.ts checks them against the graph. */
export const REACHABLE_STATES: Readonly<Record<RunType, readonly RunState[]>> =
  {
    TRACKED: [
      "QUEUED",
      "READY",
      "PREPARING",
      "INITIALIZING",
      "PLANNING",
      "UNCONFIRMED",
      "CONFIRMED",
      "PREPARING_APPLY",
      "APPLYING",
      "REPLAN_REQUESTED",
      "PREPARING_REPLAN",
      ...TERMINAL_STATES,
    ],
    PROPOSED: [
      "QUEUED",
      "READY",
      "PREPARING",
      "INITIALIZING",
      "PLANNING",
      "PENDING_REVIEW",
      ...TERMINAL_STATES,
    ],
    TASK: [
      "QUEUED",
      "READY",
      "PREPARING",
      "INITIALIZING",
      "PERFORMING",
      ...TERMINAL_STATES,
    ],
    DESTROY: [
      "QUEUED",
      "READY",
      "PREPARING",
      "INITIALIZING",
      "DESTROYING",
      ...TERMINAL_STATES,
    ],
  };

/** Waiting to be scheduled or for a worker, nothing started: canceled (not stopped), prioritizable. */
export const NOT_STARTED_STATES = [
  "QUEUED",
  "READY",
] as const satisfies readonly RunState[];

/**
 * Waiting for a worker: READY (its first phase), CONFIRMED (the apply) and
 * REPLAN_REQUESTED (a targeted replan). Each has reserved a worker slot of its pool; a
 * claim moves them to the AWAITING_PICKUP_STATES (`nextState` `claimed`).
 */
export const AWAITING_WORKER_STATES = [
  "READY",
  "CONFIRMED",
  "REPLAN_REQUESTED",
] as const satisfies readonly RunState[];

/**
 * Handed to a worker that has not started the phase yet (the pickup timeout applies);
 * the worker's `prepared` report moves the run on.
 */
export const AWAITING_PICKUP_STATES = [
  "PREPARING",
  "PREPARING_APPLY",
  "PREPARING_REPLAN",
] as const satisfies readonly RunState[];

/** A worker executes the run, so losing that worker (or its silence) must fail it. */
export const WORKER_HELD_STATES = [
  "PREPARING",
  "INITIALIZING",
  "PLANNING",
  "PREPARING_APPLY",
  "APPLYING",
  "PERFORMING",
  "DESTROYING",
  "PREPARING_REPLAN",
] as const satisfies readonly RunState[];

/**
 * The run no longer needs its worker: it ended, or it waits for a human (UNCONFIRMED,
 * PENDING_REVIEW). Entering one frees the worker in the same transaction.
 */
export const WORKER_RELEASING_STATES = [
  ...TERMINAL_STATES,
  "UNCONFIRMED",
  "PENDING_REVIEW",
] as const satisfies readonly RunState[];

/**
 * The phases where tofu runs init/plan/apply/destroy or a task command: the worker writes
 * logs in them (`Run.history[].hasLogs`), and a non-proposed run may change its stack's
 * state only in them.
 */
export const WRITING_STATES = [
  "INITIALIZING",
  "PLANNING",
  "APPLYING",
  "PERFORMING",
  "DESTROYING",
] as const satisfies readonly RunState[];

/** The state each worker phase (`RunPhase` of the protocol) runs in. */
export const PHASE_STATES = {
  plan: "PLANNING",
  apply: "APPLYING",
  perform: "PERFORMING",
  destroy: "DESTROYING",
} as const satisfies Record<string, RunState>;

/**
 * A blocking run in these states does not hold its stack's exclusive lock (QUEUED and the
 * terminal states); in every other state it does (the partial unique index
 * `runs_one_active_blocking_per_stack`).
 */
export const NOT_HOLDING_LOCK_STATES = [
  "QUEUED",
  ...TERMINAL_STATES,
] as const satisfies readonly RunState[];

/** Runs the scheduler and dispatcher look at (the partial index `runs_pending`). */
export const PENDING_STATES = [
  "QUEUED",
  ...AWAITING_WORKER_STATES,
] as const satisfies readonly RunState[];

/** Where approval policies hold a run and reviews are taken (spacelift-reference §2). */
export const REVIEWABLE_STATES = [
  "QUEUED",
  "UNCONFIRMED",
  "PENDING_REVIEW",
] as const satisfies readonly RunState[];

/** A user may discard the run: it waits to start, or for its confirmation or replan. */
export const DISCARDABLE_STATES = [
  "QUEUED",
  "READY",
  "UNCONFIRMED",
  "REPLAN_REQUESTED",
] as const satisfies readonly RunState[];

/** Work has begun but nothing can have changed real resources yet: a user may stop it. */
export const STOPPABLE_STATES = [
  "PREPARING",
  "INITIALIZING",
  "PLANNING",
  "PREPARING_REPLAN",
] as const satisfies readonly RunState[];

/** Retrying creates a new run; only a FAILED or STOPPED one can be retried. */
export const RETRYABLE_STATES = [
  "FAILED",
  "STOPPED",
] as const satisfies readonly RunState[];

function memberOf(states: readonly RunState[]): (state: string) => boolean {
  const set: ReadonlySet<string> = new Set(states);
  return (state) => set.has(state);
}

export const isRunState = memberOf(RUN_STATES);
export const isTerminal = memberOf(TERMINAL_STATES);
export const isFailure = memberOf(FAILURE_STATES);
export const isNotStarted = memberOf(NOT_STARTED_STATES);
export const isAwaitingWorker = memberOf(AWAITING_WORKER_STATES);
export const isAwaitingPickup = memberOf(AWAITING_PICKUP_STATES);
export const isWorkerHeld = memberOf(WORKER_HELD_STATES);
export const releasesWorker = memberOf(WORKER_RELEASING_STATES);
export const isWritingState = memberOf(WRITING_STATES);
export const isReviewable = memberOf(REVIEWABLE_STATES);
export const isDiscardable = memberOf(DISCARDABLE_STATES);
export const isStoppable = memberOf(STOPPABLE_STATES);
export const isRetryable = memberOf(RETRYABLE_STATES);
