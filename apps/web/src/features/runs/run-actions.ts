/**
 * The run buttons the page has. Which of them a run shows is the server's decision:
 * `Run.allowedActions` (the run rules of apps/server/src/modules/runs/run.ts, retry only
 * where the run may be retried); the page never re-derives it from the state.
 */
export type RunAction = "confirm" | "discard" | "cancel" | "stop" | "retry";

const BUTTONS: readonly RunAction[] = [
  "confirm",
  "discard",
  "cancel",
  "stop",
  "retry",
];

/** The run's `allowedActions` that the page has a button for, in the page's order. */
export function shownRunActions(allowed: readonly string[]): RunAction[] {
  return BUTTONS.filter((action) => allowed.includes(action));
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
