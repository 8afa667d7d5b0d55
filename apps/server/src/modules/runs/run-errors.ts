import { ConflictError, NotFoundError } from "../../platform/errors.ts";
import type { RunState, RunType } from "../run-status/index.ts";
import type { RunAction, RunEventType } from "./run-states.ts";

/** Everything a caller needs to explain why a run refused an event or an action. */
export interface RunRefusal {
  readonly runId: string | undefined;
  readonly runType: RunType;
  readonly state: RunState;
  /** States of a run of this type in which the attempt is allowed (flags aside). */
  readonly allowedStates: readonly RunState[];
  /** Why this particular state or flag refuses it, when there is more to say than the state list. */
  readonly reason: string | undefined;
}

/**
 * Builds the "why not" message shared by both errors and by `actionError`. It always names the
 * run's current state and the attempt, and names the allowed states unless the current state is
 * one of them (then the refusal comes from a flag and `reason` says which).
 */
export function describeRefusal(attempt: string, refusal: RunRefusal): string {
  const run = `Run${refusal.runId === undefined ? "" : ` ${refusal.runId}`} (${refusal.runType})`;
  const reason =
    refusal.reason === undefined ? "" : ` ${capitalize(refusal.reason)}.`;
  if (
    refusal.reason !== undefined &&
    refusal.allowedStates.includes(refusal.state)
  ) {
    return `${run} is in state ${refusal.state}, but "${attempt}" is refused:${reason}`;
  }
  const where =
    refusal.allowedStates.length === 0
      ? `no state of a ${refusal.runType} run allows "${attempt}"`
      : `"${attempt}" is allowed only in ${refusal.allowedStates.join(", ")}`;
  return `${run} is in state ${refusal.state}; ${where}.${reason}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The run state machine has no edge for this event from the run's current state. */
export class IllegalRunTransitionError extends ConflictError {
  readonly event: RunEventType;
  readonly runId: string | undefined;
  readonly runType: RunType;
  readonly state: RunState;
  readonly allowedStates: readonly RunState[];

  constructor(event: RunEventType, refusal: RunRefusal) {
    super(describeRefusal(event, refusal));
    this.event = event;
    this.runId = refusal.runId;
    this.runType = refusal.runType;
    this.state = refusal.state;
    this.allowedStates = refusal.allowedStates;
  }
}

/** A user action (confirm, stop, retry, …) is not available for the run as it is now. */
export class RunActionNotAllowedError extends ConflictError {
  readonly action: RunAction;
  readonly runId: string | undefined;
  readonly runType: RunType;
  readonly state: RunState;
  readonly allowedStates: readonly RunState[];

  constructor(action: RunAction, refusal: RunRefusal) {
    super(describeRefusal(action, refusal));
    this.action = action;
    this.runId = refusal.runId;
    this.runType = refusal.runType;
    this.state = refusal.state;
    this.allowedStates = refusal.allowedStates;
  }
}

export class RunNotFoundError extends NotFoundError {
  readonly runId: string;

  constructor(runId: string) {
    super(`Run ${runId} not found`);
    this.runId = runId;
  }
}

/**
 * Optimistic concurrency lost: the run changed (another transition committed) between
 * reading it and writing the transition. The caller reloads and decides again.
 */
export class RunVersionConflictError extends ConflictError {
  readonly runId: string;
  readonly expectedStateVersion: number;

  constructor(runId: string, expectedStateVersion: number) {
    super(
      `Run ${runId} changed concurrently (it is no longer at state version ${expectedStateVersion}); reload it and try again`,
    );
    this.runId = runId;
    this.expectedStateVersion = expectedStateVersion;
  }
}

/** Disabled stacks take no new runs (Spacelift's "stack is disabled"). */
export class StackDisabledError extends ConflictError {
  constructor(readonly stackId: string) {
    super(
      `stack ${stackId} is disabled, so it takes no new runs; enable it first`,
    );
  }
}

/** The stack names no worker pool and the instance has no default pool to fall back on. */
export class NoWorkerPoolError extends ConflictError {
  constructor(readonly stackId: string) {
    super(
      `stack ${stackId} has no worker pool and there is no default worker pool; attach a pool to the stack`,
    );
  }
}
