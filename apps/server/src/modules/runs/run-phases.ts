/**
 * Pure rules of a run's phases on a worker: which phase a worker runs for a run, and the
 * engine events a worker's `state` report stands for. No I/O: run-dispatch.ts and
 * run-reports.ts load the run and write what these return.
 */
import type { RunPhase } from "@stackyard/protocol";
import {
  isAwaitingPickup,
  type RunState,
  type RunType,
} from "../run-status/index.ts";
import { nextState, type RunEvent, type RunSnapshot } from "./run.ts";

/**
 * The phase a worker runs for a run in `state` (after the claim or an autodeploy). A
 * replan (PREPARING_REPLAN) of a tracked run is a plan phase.
 */
export function phaseOf(run: { type: RunType; state: RunState }): RunPhase {
  if (run.state === "PREPARING_APPLY" || run.state === "APPLYING")
    return "apply";
  switch (run.type) {
    case "TASK":
      return "perform";
    case "DESTROY":
      return "destroy";
    default:
      return "plan";
  }
}

/**
 * The engine events that take `run` into `target` (`prepared` from the
 * AWAITING_PICKUP_STATES, `initialized` from INITIALIZING), or null when `target` is not
 * ahead of the run on that path (already reached, passed, or not on this run's path).
 */
export function walkTo(
  run: RunSnapshot,
  target: RunState,
): { event: RunEvent; to: RunState }[] | null {
  const steps: { event: RunEvent; to: RunState }[] = [];
  let state = run.state;
  for (let i = 0; i < 3 && state !== target; i++) {
    const event: RunEvent | null = isAwaitingPickup(state)
      ? { type: "prepared" }
      : state === "INITIALIZING"
        ? { type: "initialized" }
        : null;
    if (!event) return null;
    const to = nextState({ ...run, state }, event);
    steps.push({ event, to });
    state = to;
  }
  return state === target && steps.length > 0 ? steps : null;
}
