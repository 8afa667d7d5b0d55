/**
 * The events that move a run and the actions users take: names only, with no rules, so
 * run.ts (the rules) and run-errors.ts can both depend on them. The states and run types
 * live in the run-status module; run.ts re-exports both with the rules.
 */
/**
 * Everything that can move a run. Engine events come from the scheduler, the drain and worker
 * reports; user events are the GraphQL mutations (S11 confirm, S12 discard, S14 cancel, S15 stop,
 * S38 review, S41 targeted replan).
 */
export type RunEvent =
  /** The scheduler picked the run (`pickRunnable`): lock taken, worker slot reserved. */
  | { readonly type: "ready" }
  /** The dispatched job was not claimed in time; the run keeps its createdAt, hence its place. */
  | { readonly type: "requeued" }
  /** Upstream dependencies made the run unnecessary (e.g. their outputs did not change). */
  | { readonly type: "skipped" }
  /** A worker accepted the job: READY, CONFIRMED or REPLAN_REQUESTED hand over to it. */
  | { readonly type: "claimed" }
  /** The worker finished the handover (workspace, image) and starts the next phase. */
  | { readonly type: "prepared" }
  | { readonly type: "initialized" }
  | {
      readonly type: "planned";
      readonly hasChanges: boolean;
      /** A plan policy returned `warn`. */
      readonly warned: boolean;
      /** Approval policies are attached, so a warned proposed run waits in PENDING_REVIEW. */
      readonly reviewRequired: boolean;
      /** The stack's autodeploy setting. */
      readonly autodeploy: boolean;
      /** Someone else holds the stack's user lock; autodeploy is off while it is (§1.2). */
      readonly stackLocked: boolean;
    }
  | { readonly type: "applied" }
  | { readonly type: "performed" }
  | { readonly type: "destroyed" }
  /** Any error: plan policy deny, non-zero exit, timeout, dispatch failure, reconciler. */
  | { readonly type: "failed"; readonly reason: string }
  /** The worker holding the run stopped heartbeating. */
  | { readonly type: "workerLost" }
  | { readonly type: "confirm" }
  | { readonly type: "discard" }
  | { readonly type: "cancel" }
  | { readonly type: "stop" }
  | { readonly type: "replan" }
  /** The verdict after counting this review (the approval policy's decision, or the review itself). */
  | { readonly type: "review"; readonly decision: "APPROVE" | "REJECT" };
export type RunEventType = RunEvent["type"];

/** What the UI and API offer; names follow the GraphQL mutations. */
export const RUN_ACTIONS = [
  "confirm",
  "discard",
  "cancel",
  "stop",
  "retry",
  "prioritize",
  "review",
  "replan",
] as const;
export type RunAction = (typeof RUN_ACTIONS)[number];
