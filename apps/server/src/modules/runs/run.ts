/**
 * Pure rules of the run state machine (spacelift-reference §1.2). No I/O: the service loads a run,
 * asks `nextState`, and writes the result together with a `run_transitions` row.
 *
 * Paths, after the common QUEUED → READY → PREPARING → INITIALIZING:
 * - PROPOSED: PLANNING → FINISHED, or → PENDING_REVIEW (plan `warn` + review required) → FINISHED.
 * - TRACKED:  PLANNING → FINISHED (no changes) | APPLYING (autodeploy, no `warn`, stack not locked)
 *             | UNCONFIRMED → confirm → CONFIRMED → PREPARING_APPLY → APPLYING → FINISHED,
 *             and UNCONFIRMED → replan → REPLAN_REQUESTED → PREPARING_REPLAN → PLANNING.
 * - TASK:     INITIALIZING (skipped with `skipInit`) → PERFORMING → FINISHED.
 * - DESTROY:  INITIALIZING → DESTROYING → FINISHED.
 *
 * Invariants, each one covered by run.test.ts:
 * - Terminal states (TERMINAL_STATES) have no exit. Retrying creates a new run (`canRetry`).
 * - No run can be stuck: every non-terminal state, including the deprecated PENDING that Stackyard
 *   never enters, accepts the engine's `failed` event, so a reconciler (timeouts, lost workers) can
 *   always end it. Every state in which a run waits for the queue or for a human (QUEUED, READY,
 *   UNCONFIRMED, PENDING_REVIEW, REPLAN_REQUESTED) also has a user exit.
 * - Once infrastructure may be changing, no user action interrupts it. CONFIRMED and
 *   PREPARING_APPLY cannot be stopped (§1.2: a confirmed plan is committed to being applied).
 *   APPLYING, PERFORMING and DESTROYING cannot be stopped either: killing `tofu apply`/`destroy`
 *   or a task command mid-way leaves resources half-changed and the state possibly unsaved and
 *   still locked, the "unclearable lock" class of bug peers suffer from. These runs end only as
 *   FINISHED or FAILED (worker report, `workerLost`, or a timeout's `failed`).
 * - Claims race with user actions (a worker claims a READY run while a user cancels it). The
 *   service applies `nextState` as a compare-and-set on the stored state, so the first committed
 *   transition wins and the loser gets an IllegalRunTransitionError (a ConflictError).
 * - Blocking runs (TRACKED, TASK, DESTROY) hold their stack's exclusive lock from READY until they
 *   reach a terminal state (`holdsStackLock`); proposed runs never take it.
 */
import {
  REACHABLE_STATES,
  isDiscardable,
  isNotStarted,
  isRetryable,
  isReviewable,
  isStoppable,
  isTerminal,
  isWorkerHeld,
  type RunState,
  type RunType,
} from "../run-status/index.ts";
import {
  IllegalRunTransitionError,
  RunActionNotAllowedError,
  type RunRefusal,
} from "./run-errors.ts";
import { RUN_ACTIONS, type RunAction, type RunEvent } from "./run-states.ts";

export {
  RUN_ACTIONS,
  type RunAction,
  type RunEvent,
  type RunEventType,
} from "./run-states.ts";

export {
  REACHABLE_STATES,
  RUN_STATES,
  RUN_TYPES,
  TERMINAL_STATES,
  WORKER_HELD_STATES,
  isTerminal,
  isWorkerHeld,
  type RunState,
  type RunType,
} from "../run-status/index.ts";

/** What the rules need to know about a run. */
export interface RunSnapshot {
  readonly id?: string;
  readonly type: RunType;
  readonly state: RunState;
  /** TASK runs only: go from PREPARING straight to PERFORMING. */
  readonly skipInit?: boolean;
  /** An approval policy has not approved the run yet: it may not leave QUEUED or be confirmed. */
  readonly awaitingApproval?: boolean;
}

/** Blocking runs take the stack's exclusive lock: at most one of them is active per stack. */
export function isBlocking(type: RunType): boolean {
  return type !== "PROPOSED";
}

/** Whether the run currently holds its stack's exclusive lock (from READY until terminal). */
export function holdsStackLock(
  run: Pick<RunSnapshot, "type" | "state">,
): boolean {
  return (
    isBlocking(run.type) && run.state !== "QUEUED" && !isTerminal(run.state)
  );
}

const AFTER_INIT: Readonly<Record<RunType, RunState>> = {
  TRACKED: "PLANNING",
  PROPOSED: "PLANNING",
  TASK: "PERFORMING",
  DESTROY: "DESTROYING",
};

const STOP_REFUSALS: Partial<Record<RunState, string>> = {
  QUEUED: "a run that has not started is canceled or discarded, not stopped",
  READY: "a run that has not started is canceled or discarded, not stopped",
  UNCONFIRMED: "an unconfirmed run is discarded, not stopped",
  REPLAN_REQUESTED: "a run waiting for its replan is discarded, not stopped",
  PENDING_REVIEW: "a run pending review is approved or rejected, not stopped",
  CONFIRMED:
    "a CONFIRMED run cannot be stopped: confirming commits the plan to be applied, and the apply must end as FINISHED or FAILED",
  PREPARING_APPLY:
    "a run preparing its apply cannot be stopped: confirming commits the plan to be applied, and the apply must end as FINISHED or FAILED",
  APPLYING:
    "an APPLYING run cannot be stopped: interrupting an apply leaves resources half-changed and the state possibly unsaved and locked",
  DESTROYING:
    "a DESTROYING run cannot be stopped: interrupting a destroy leaves resources half-deleted and the state possibly unsaved and locked",
  PERFORMING:
    "a PERFORMING task cannot be stopped: interrupting its command may leave its side effects half-done",
};

type Verdict =
  | { readonly next: RunState }
  | { readonly refused: string | undefined };

const to = (next: RunState): Verdict => ({ next });
const refuse = (reason?: string): Verdict => ({ refused: reason });
const when = (allowed: boolean, next: RunState): Verdict =>
  allowed ? to(next) : refuse();

/** The single rule table: the successor of `run` under `event`, or why there is none. */
function judge(run: RunSnapshot, event: RunEvent): Verdict {
  const { state, type } = run;
  switch (event.type) {
    case "ready":
      if (state === "QUEUED" && run.awaitingApproval === true) {
        return refuse("it is waiting for an approval policy to approve it");
      }
      return when(state === "QUEUED", "READY");
    case "requeued":
      return when(state === "READY", "QUEUED");
    case "skipped":
      return when(state === "QUEUED", "SKIPPED");
    case "claimed":
      if (state === "READY") return to("PREPARING");
      if (state === "CONFIRMED") return to("PREPARING_APPLY");
      return when(state === "REPLAN_REQUESTED", "PREPARING_REPLAN");
    case "prepared":
      if (state === "PREPARING")
        return to(
          type === "TASK" && run.skipInit === true
            ? "PERFORMING"
            : "INITIALIZING",
        );
      if (state === "PREPARING_APPLY") return to("APPLYING");
      return when(state === "PREPARING_REPLAN", "PLANNING");
    case "initialized":
      return when(state === "INITIALIZING", AFTER_INIT[type]);
    case "planned":
      if (state !== "PLANNING" || (type !== "TRACKED" && type !== "PROPOSED"))
        return refuse();
      if (type === "PROPOSED")
        return to(
          event.warned && event.reviewRequired ? "PENDING_REVIEW" : "FINISHED",
        );
      if (!event.hasChanges) return to("FINISHED");
      return to(
        event.autodeploy && !event.warned && !event.stackLocked
          ? "APPLYING"
          : "UNCONFIRMED",
      );
    case "applied":
      return when(state === "APPLYING", "FINISHED");
    case "performed":
      return when(state === "PERFORMING", "FINISHED");
    case "destroyed":
      return when(state === "DESTROYING", "FINISHED");
    case "failed":
      return when(!isTerminal(state), "FAILED");
    case "workerLost":
      return when(isWorkerHeld(state), "FAILED");
    case "confirm":
      if (type !== "TRACKED")
        return refuse("only tracked runs wait for confirmation");
      if (state === "UNCONFIRMED" && run.awaitingApproval === true) {
        return refuse("it is waiting for an approval policy to approve it");
      }
      return when(state === "UNCONFIRMED", "CONFIRMED");
    case "discard":
      return when(isDiscardable(state), "DISCARDED");
    case "cancel":
      if (isStoppable(state))
        return refuse(
          "it has already started; a running run is stopped, not canceled",
        );
      if (state === "UNCONFIRMED")
        return refuse("an unconfirmed run is discarded, not canceled");
      return when(isNotStarted(state), "CANCELED");
    case "stop":
      if (isStoppable(state)) return to("STOPPED");
      return refuse(STOP_REFUSALS[state]);
    case "replan":
      if (type !== "TRACKED")
        return refuse("only tracked runs have a plan to replan");
      return when(state === "UNCONFIRMED", "REPLAN_REQUESTED");
    case "review":
      if (!isReviewable(state)) return refuse();
      if (event.decision === "REJECT") return to("FAILED");
      return to(state === "PENDING_REVIEW" ? "FINISHED" : state);
  }
}

/** Where a run of this type could accept `attempt`, ignoring flags; used for error messages. */
function statesAllowing(
  run: RunSnapshot,
  accepts: (candidate: RunSnapshot) => boolean,
): RunState[] {
  const base: RunSnapshot = {
    type: run.type,
    state: run.state,
    skipInit: run.skipInit,
  };
  return REACHABLE_STATES[run.type].filter((state) =>
    accepts({ ...base, state }),
  );
}

function refusal(
  run: RunSnapshot,
  allowedStates: readonly RunState[],
  reason: string | undefined,
): RunRefusal {
  const terminal = isTerminal(run.state) && !allowedStates.includes(run.state);
  return {
    runId: run.id,
    runType: run.type,
    state: run.state,
    allowedStates,
    reason:
      reason ??
      (terminal
        ? `the run has already ended (${run.state} is terminal)`
        : undefined),
  };
}

function eventRefusal(
  run: RunSnapshot,
  event: RunEvent,
  reason: string | undefined,
): RunRefusal {
  const allowed = statesAllowing(
    run,
    (candidate) => "next" in judge(candidate, event),
  );
  return refusal(run, allowed, reason);
}

/**
 * The state `run` moves to under `event`. Throws IllegalRunTransitionError, naming the current
 * state, the event and the states that allow it, when the machine has no such edge.
 * A `review` APPROVE in QUEUED or UNCONFIRMED returns the current state: the review is recorded,
 * and the caller clears `awaitingApproval` if the approval policy is now satisfied.
 */
export function nextState(run: RunSnapshot, event: RunEvent): RunState {
  const verdict = judge(run, event);
  if ("next" in verdict) return verdict.next;
  throw new IllegalRunTransitionError(
    event.type,
    eventRefusal(run, event, verdict.refused),
  );
}

/** Retrying creates a new run with the same commit and type; the old run stays as it ended. */
export function canRetry(run: Pick<RunSnapshot, "state">): boolean {
  return isRetryable(run.state);
}

/** The prioritize flag only matters while the run waits to be scheduled (see run-order.ts). */
export function canPrioritize(run: Pick<RunSnapshot, "state">): boolean {
  return isNotStarted(run.state);
}

/** The event each state-changing action sends; `review` is checked as APPROVE (REJECT is allowed in the same states). */
const ACTION_EVENTS: Readonly<
  Record<Exclude<RunAction, "retry" | "prioritize">, RunEvent>
> = {
  confirm: { type: "confirm" },
  discard: { type: "discard" },
  cancel: { type: "cancel" },
  stop: { type: "stop" },
  replan: { type: "replan" },
  review: { type: "review", decision: "APPROVE" },
};

function refuseAction(
  run: RunSnapshot,
  action: RunAction,
): RunRefusal | undefined {
  switch (action) {
    case "retry":
      if (canRetry(run)) return undefined;
      return refusal(
        run,
        statesAllowing(run, canRetry),
        isTerminal(run.state)
          ? `a ${run.state} run has nothing to retry`
          : "the run has not ended; only a FAILED or STOPPED run can be retried",
      );
    case "prioritize":
      if (canPrioritize(run)) return undefined;
      return refusal(
        run,
        statesAllowing(run, canPrioritize),
        isTerminal(run.state) ? undefined : "the run has already started",
      );
    default: {
      const event = ACTION_EVENTS[action];
      const verdict = judge(run, event);
      return "next" in verdict
        ? undefined
        : eventRefusal(run, event, verdict.refused);
    }
  }
}

/** The actions the UI and API may offer for `run` now; exactly those `assertActionAllowed` accepts. */
export function allowedActions(run: RunSnapshot): RunAction[] {
  return RUN_ACTIONS.filter(
    (action) => refuseAction(run, action) === undefined,
  );
}

/** Why `action` is not available for `run`, or undefined when it is. */
export function actionError(
  run: RunSnapshot,
  action: RunAction,
): string | undefined {
  const refused = refuseAction(run, action);
  return refused === undefined
    ? undefined
    : new RunActionNotAllowedError(action, refused).message;
}

/** Throws RunActionNotAllowedError (a ConflictError) with the `actionError` message. */
export function assertActionAllowed(run: RunSnapshot, action: RunAction): void {
  const refused = refuseAction(run, action);
  if (refused !== undefined)
    throw new RunActionNotAllowedError(action, refused);
}
