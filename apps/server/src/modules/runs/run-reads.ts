import { NotFoundError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import { isTerminal, type RunState } from "../run-status/index.ts";
import { allowedActions, canRetry, type RunAction } from "./run.ts";
import { countPendingRuns } from "./run-queries.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord, RunReviewRecord, RunTransition } from "./run-repo.ts";
import {
  RUN_LIST_TYPES,
  snapshotOf,
  type RunList,
  type RunRef,
  type RunServiceContext,
  type RunServiceDeps,
} from "./run-service-context.ts";

/** The reads behind the GraphQL `Run` type and the stack's run lists. */
export function createRunReads(deps: RunServiceDeps, ctx: RunServiceContext) {
  const { db, access, stacks } = deps;
  const { loadStack, loadRun, isLatestOfList } = ctx;

  return {
    /** The run if the caller may read its stack; null when missing or hidden. */
    async getRun(session: Session, ref: RunRef): Promise<RunRecord | null> {
      try {
        return await loadRun(session, ref, "read");
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },

    /** A page of one of the stack's run lists, newest first, older than `before`. */
    async listRuns(
      session: Session,
      stackId: string,
      list: RunList,
      before?: string | null,
    ): Promise<RunRecord[]> {
      await loadStack(session, stackId, "read");
      return repo.listRunsOfStack(db, stackId, {
        types: RUN_LIST_TYPES[list],
        before,
      });
    },

    /** The stack of a run (`runStack`); the error message is exactly "not found" (spacectl tests it). */
    async stackIdOfRun(session: Session, runId: string): Promise<string> {
      const run = await repo.findRun(db, runId);
      if (!run) throw new NotFoundError("not found");
      const stack = await stacks.loadStack(run.stackId);
      if (!stack) throw new NotFoundError("not found");
      await access.assertCanRead(
        session,
        stack.spaceId,
        new NotFoundError("not found"),
      );
      return stack.id;
    },

    /** The run holding the stack's lock (`Stack.blocker`), if any. */
    async blocker(
      session: Session,
      stackId: string,
    ): Promise<RunRecord | null> {
      await loadStack(session, stackId, "read");
      return repo.findActiveBlockingRun(db, stackId);
    },

    /**
     * The run's history, newest first. While the run waits (QUEUED, READY) the newest
     * entry's note also says why, computed now (run-scheduling.ts `waitingReason`).
     * Callers pass a run they have already authorised.
     */
    /** The run's reviews, oldest first; the caller already read the run through its stack. */
    reviews(run: RunRecord): Promise<RunReviewRecord[]> {
      return repo.listReviews(db, run.id);
    },

    async history(run: RunRecord): Promise<RunTransition[]> {
      const transitions = await repo.listTransitions(db, run.id);
      const [newest] = transitions;
      if (!newest || newest.stateVersion !== run.stateVersion)
        return transitions;
      const reason = await deps.scheduler.waitingReason(run);
      if (!reason) return transitions;
      const note = newest.note
        ? `${newest.note}. Waiting: ${reason}`
        : `Waiting: ${reason}`;
      return [{ ...newest, note }, ...transitions.slice(1)];
    },

    waitingReason: (run: RunRecord) => deps.scheduler.waitingReason(run),

    /** `Run.canRetry`: the rules' canRetry, and for tracked runs only the latest one. */
    async canRetry(run: RunRecord): Promise<boolean> {
      if (!canRetry(run)) return false;
      return run.type !== "TRACKED" || isLatestOfList(run);
    },

    /**
     * `Run.allowedActions`: what the rules allow in the run's state (`allowedActions`,
     * exactly what `assertActionAllowed` accepts), with retry only where `canRetry`.
     */
    async allowedActions(run: RunRecord): Promise<RunAction[]> {
      const actions = allowedActions(snapshotOf(run));
      if (!actions.includes("retry")) return actions;
      if (run.type !== "TRACKED" || (await isLatestOfList(run))) return actions;
      return actions.filter((action) => action !== "retry");
    },

    /** `Run.isMostRecent`: no newer run in the same list of the stack. */
    isMostRecent: (run: RunRecord) => isLatestOfList(run),

    /**
     * Whether the run has left the state it was in at `stateVersion` (or, without a
     * version, whether it is no longer in `state`), so no more logs of it will come.
     * A terminal state is finished at once.
     *
     * `run` may be older than the version asked about (a caller that read the run and
     * then the history sees transitions committed in between): a run can only have left
     * a version it had already passed, so a newer version is still live.
     */
    hasLeftState(
      run: RunRecord,
      state: RunState,
      stateVersion?: number | null,
    ): boolean {
      if (isTerminal(run.state)) return true;
      if (stateVersion !== undefined && stateVersion !== null)
        return run.stateVersion > stateVersion;
      return run.state !== state;
    },

    /** QUEUED and READY runs of the pool (`WorkerPool.pendingRuns`). */
    pendingRuns: (poolId: string) => countPendingRuns(db, poolId),
  };
}
