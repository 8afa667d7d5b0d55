import { isResourceAddress } from "@stackyard/protocol";
import type { Database } from "../../platform/db/index.ts";
import type { Session } from "../auth/index.ts";
import { lockHolder } from "../stacks/index.ts";
import type { RunState } from "../run-status/index.ts";
import {
  assertActionAllowed,
  nextState,
  type RunAction,
  type RunEvent,
} from "./run.ts";
import { RunNotFoundError, RunVersionConflictError } from "./run-errors.ts";
import { ValidationError } from "../../platform/errors.ts";
import { enqueueDispatch, enqueueSchedulePass } from "./run-enqueue.ts";
import { enqueueApprovalEvaluation } from "./run-policies.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord, RunReviewRecord } from "./run-repo.ts";
import {
  noteOf,
  snapshotOf,
  type RunRef,
  type RunServiceContext,
  type RunServiceDeps,
} from "./run-service-context.ts";

/**
 * The user actions of the state machine: confirm, discard, cancel, stop, prioritize,
 * review and targeted replan. Every action is checked by the pure rules
 * (`assertActionAllowed`), then written as a compare-and-set on the state_version it was
 * checked against, together with a `runs.schedule` enqueue, in one transaction. Two
 * racing actions on a run: the loser reloads, and gets the rules' explanation when the
 * action no longer applies (e.g. "is in state CONFIRMED; confirm is allowed only in
 * UNCONFIRMED"), else a RunVersionConflictError.
 */
export function createRunUserActions(
  deps: RunServiceDeps,
  ctx: RunServiceContext,
) {
  const { db, clock } = deps;
  const { loadRun, loadRunOrBlocker, newReviewId } = ctx;

  /**
   * Applies a user action: rules first, then the compare-and-set transition and the
   * scheduling pass in one transaction.
   */
  async function act(
    session: Session,
    run: RunRecord,
    action: RunAction,
    event: RunEvent,
    opts: {
      note: string;
      columns?: repo.TransitionColumns;
      inTx?: (tx: Database, updated: RunRecord) => Promise<void>;
    },
  ): Promise<RunRecord> {
    assertActionAllowed(snapshotOf(run), action);
    const to = nextState(snapshotOf(run), event);
    try {
      return await db.transaction().execute(async (tx) => {
        const updated = await repo.transitionRun(tx, {
          runId: run.id,
          expectedStateVersion: run.stateVersion,
          to,
          actor: lockHolder(session),
          note: opts.note,
          now: clock(),
          ...opts.columns,
        });
        await opts.inTx?.(tx, updated);
        await enqueueSchedulePass(tx);
        // A confirmed run waits for a worker; an ended one may free a worker for others.
        await enqueueDispatch(tx);
        return updated;
      });
    } catch (err) {
      await explainConflict(err, run.id, action);
      throw err;
    }
  }

  /** After a lost race, prefer the rules' "why not" over a bare version conflict. */
  async function explainConflict(
    err: unknown,
    runId: string,
    action: RunAction,
  ): Promise<void> {
    if (!(err instanceof RunVersionConflictError)) return;
    const fresh = await repo.findRun(db, runId);
    if (fresh) assertActionAllowed(snapshotOf(fresh), action);
  }

  return {
    async confirm(
      session: Session,
      input: { stackId: string; runId?: string | null; note?: string | null },
    ): Promise<RunRecord> {
      const run = await loadRunOrBlocker(
        session,
        input.stackId,
        input.runId,
        "confirm",
      );
      return act(
        session,
        run,
        "confirm",
        { type: "confirm" },
        {
          note: noteOf("Confirmed", session, input.note),
        },
      );
    },

    async discard(
      session: Session,
      input: { stackId: string; runId?: string | null; note?: string | null },
    ): Promise<RunRecord> {
      const run = await loadRunOrBlocker(
        session,
        input.stackId,
        input.runId,
        "discard",
      );
      return act(
        session,
        run,
        "discard",
        { type: "discard" },
        {
          note: noteOf("Discarded", session, input.note),
        },
      );
    },

    async cancel(
      session: Session,
      input: RunRef & { note?: string | null },
    ): Promise<RunRecord> {
      const run = await loadRun(session, input, "write");
      return act(
        session,
        run,
        "cancel",
        { type: "cancel" },
        {
          note: noteOf("Canceled", session, input.note),
        },
      );
    },

    /** Stops a run that has started but cannot have changed resources yet. */
    async stop(
      session: Session,
      input: RunRef & { note?: string | null },
    ): Promise<RunRecord> {
      const run = await loadRun(session, input, "write");
      const note = noteOf("Stopped", session, input.note);
      const stopped = await act(
        session,
        run,
        "stop",
        { type: "stop" },
        { note },
      );
      // The worker keeps the run until it reports back (its result is then ignored and
      // frees it) or the reconciler frees it; it is told only after the commit.
      if (stopped.workerId) await deps.notifyStop?.(stopped, note);
      return stopped;
    },

    /** Moves a waiting run ahead of other stacks' runs (never ahead of its own stack's). */
    async prioritize(
      session: Session,
      input: RunRef & { prioritize: boolean },
    ): Promise<RunRecord> {
      const run = await loadRun(session, input, "write");
      assertActionAllowed(snapshotOf(run), "prioritize");
      const updated = await db.transaction().execute(async (tx) => {
        const row = await repo.setRunPrioritized(
          tx,
          run.id,
          input.prioritize,
          clock(),
        );
        if (row) await enqueueSchedulePass(tx);
        return row;
      });
      if (updated) return updated;
      const fresh = await repo.findRun(db, run.id);
      if (fresh) assertActionAllowed(snapshotOf(fresh), "prioritize");
      throw new RunNotFoundError(run.id);
    },

    /**
     * Records an approve/reject review. REJECT fails the run; APPROVE finishes a run in
     * PENDING_REVIEW and otherwise only records the review (approval policies, which
     * would count it, are not implemented).
     */
    async review(
      session: Session,
      input: {
        stackId: string;
        runId?: string | null;
        decision: "APPROVE" | "REJECT";
        note?: string | null;
      },
    ): Promise<RunReviewRecord> {
      const run = await loadRunOrBlocker(
        session,
        input.stackId,
        input.runId,
        "review",
      );
      const snapshot = snapshotOf(run);
      assertActionAllowed(snapshot, "review");
      // With approval policies the review is only recorded; the policies judge it.
      if (await deps.policies?.approvalRequired(run.stackId)) {
        const author = lockHolder(session);
        return db.transaction().execute(async (tx) => {
          const recorded = await repo.insertReview(tx, {
            id: newReviewId(),
            runId: run.id,
            author,
            decision: input.decision,
            note: input.note?.trim() || null,
            state: run.state,
            createdAt: clock(),
          });
          await enqueueApprovalEvaluation(tx, run.id);
          return recorded;
        });
      }
      const event = { type: "review", decision: input.decision } as const;
      const to = nextState(snapshot, event);
      const author = lockHolder(session);
      const review = (state: RunState): RunReviewRecord => ({
        id: newReviewId(),
        runId: run.id,
        author,
        decision: input.decision,
        note: input.note?.trim() || null,
        state,
        createdAt: clock(),
      });
      if (to === run.state) {
        return repo.insertReview(db, review(to));
      }
      let recorded: RunReviewRecord | null = null;
      await act(session, run, "review", event, {
        note: noteOf(
          input.decision === "REJECT" ? "Rejected" : "Approved",
          session,
          input.note,
        ),
        columns:
          input.decision === "REJECT"
            ? { failureReason: `rejected by ${author}` }
            : {},
        inTx: async (tx) => {
          recorded = await repo.insertReview(tx, review(to));
        },
      });
      return recorded ?? review(to);
    },

    /** Asks for a new plan limited to `targets` (resource addresses). */
    async targetedReplan(
      session: Session,
      input: RunRef & { targets: readonly string[] },
    ): Promise<RunRecord> {
      const targets = input.targets.map((t) => t.trim()).filter(Boolean);
      if (targets.length === 0)
        throw new ValidationError(
          "a targeted replan needs at least one resource address",
        );
      // Each target becomes one `-target=<address>` argument on the worker.
      const bad = targets.find((t) => !isResourceAddress(t));
      if (bad !== undefined)
        throw new ValidationError(
          `targets: ${JSON.stringify(bad)} is not a resource address; use the form [module.<name>.]<type>.<name>[<index>], e.g. aws_instance.web`,
        );
      const run = await loadRun(session, input, "write");
      return act(
        session,
        run,
        "replan",
        { type: "replan" },
        {
          note: noteOf("Replan requested", session, targets.join(", ")),
          columns: { replanTargets: targets },
        },
      );
    },
  };
}
