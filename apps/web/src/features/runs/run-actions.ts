/**
 * Which buttons a run shows, by the server's own rules (apps/server/src/modules/runs/run.ts):
 * confirm an UNCONFIRMED tracked run; discard one that waits (queued, ready, unconfirmed,
 * replan requested); cancel one that has not started; stop one that is preparing,
 * initializing or planning (never once applying); retry a FAILED or STOPPED one.
 */
export type RunAction = "confirm" | "discard" | "cancel" | "stop" | "retry";

const DISCARDABLE = new Set([
  "QUEUED",
  "READY",
  "UNCONFIRMED",
  "REPLAN_REQUESTED",
]);
const CANCELABLE = new Set(["QUEUED", "READY"]);
const STOPPABLE = new Set([
  "PREPARING",
  "INITIALIZING",
  "PLANNING",
  "PREPARING_REPLAN",
]);
const RETRYABLE = new Set(["FAILED", "STOPPED"]);

export function allowedRunActions(run: {
  state: string;
  type: string;
  canRetry?: boolean;
}): RunAction[] {
  const actions: RunAction[] = [];
  if (run.type === "TRACKED" && run.state === "UNCONFIRMED")
    actions.push("confirm");
  if (DISCARDABLE.has(run.state)) actions.push("discard");
  if (CANCELABLE.has(run.state)) actions.push("cancel");
  if (STOPPABLE.has(run.state)) actions.push("stop");
  if (run.canRetry ?? RETRYABLE.has(run.state)) actions.push("retry");
  return actions;
}

export const ACTION_LABELS: Record<
  RunAction,
  { label: string; pending: string; help: string }
> = {
  confirm: {
    label: "Confirm",
    pending: "Confirming…",
    help: "Apply this plan.",
  },
  discard: {
    label: "Discard",
    pending: "Discarding…",
    help: "Throw this run away without applying anything.",
  },
  cancel: {
    label: "Cancel",
    pending: "Canceling…",
    help: "Cancel the run before it starts.",
  },
  stop: {
    label: "Stop",
    pending: "Stopping…",
    help: "Stop the run; nothing has been applied yet.",
  },
  retry: {
    label: "Retry",
    pending: "Retrying…",
    help: "Start a new run of the same commit.",
  },
};
