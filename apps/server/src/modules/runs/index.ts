/**
 * Runs: the run lifecycle from trigger to terminal state, and the scheduling order.
 * Owns tables `runs`, `run_transitions`, `stack_locks`; jobs `runs.*`; events `run.*`.
 * Does not own stacks, policies or workers: it receives their facts (autodeploy, plan policy
 * verdicts, idle workers) as inputs, and publishes `run.*` events for others to react to.
 */
export {
  REACHABLE_STATES,
  RUN_ACTIONS,
  RUN_STATES,
  RUN_TYPES,
  TERMINAL_STATES,
  actionError,
  allowedActions,
  assertActionAllowed,
  canPrioritize,
  canRetry,
  holdsStackLock,
  isBlocking,
  isTerminal,
  nextState,
  type RunAction,
  type RunEvent,
  type RunEventType,
  type RunSnapshot,
  type RunState,
  type RunType,
} from "./run.ts";
export {
  compareRunOrder,
  pickRunnable,
  schedulingClass,
  type QueuedRunCandidate,
  type SchedulingClass,
  type SchedulingSnapshot,
} from "./run-order.ts";
export {
  IllegalRunTransitionError,
  RunActionNotAllowedError,
  RunNotFoundError,
  describeRefusal,
  type RunRefusal,
} from "./run-errors.ts";
