import { z } from "zod";
import type { Database } from "../../platform/db/index.ts";
import {
  defineJob,
  enqueue,
  type JobCatalog,
} from "../../platform/queue/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { isReviewable, isTerminal } from "../run-status/index.ts";
import { RunVersionConflictError } from "./run-errors.ts";
import { enqueueDispatch, enqueueSchedulePass } from "./run-enqueue.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord, RunReviewRecord } from "./run-repo.ts";

/**
 * What the runs module asks of policies (the policies module answers; the composition
 * root wires it). Runs never import policies: verdicts come in through this port and
 * runs acts on them with its own writes.
 */
export interface RunPolicyPort {
  /** PLAN, after a successful plan: `deny` fails the run, `warn` needs a human. */
  decidePlan(run: RunRecord): Promise<{
    evaluated: number;
    deny: string[];
    warn: string[];
    /** Failed evaluations: the run fails with them. */
    errors: string[];
  }>;
  /** Whether approval policies apply to the stack's runs. */
  approvalRequired(stackId: string): Promise<boolean>;
  /** APPROVAL over the run's reviews (`stateSince`: when it entered its current state). */
  decideApproval(
    run: RunRecord,
    reviews: readonly RunReviewRecord[],
    stateSince: Date,
  ): Promise<{
    decision: "approve" | "reject" | "undecided";
    note: string;
    errors: string[];
  }>;
}

export const EVALUATE_APPROVAL_JOB = "runs.evaluateApproval";

/**
 * Enqueues an approval evaluation of `runId` in the caller's transaction (after a run is
 * created or enters UNCONFIRMED / PENDING_REVIEW needing approval, or gets a review).
 */
export async function enqueueApprovalEvaluation(
  db: Database,
  runId: string,
): Promise<void> {
  await enqueue(
    db,
    EVALUATE_APPROVAL_JOB,
    { runId },
    { queue: `runs.approval:${runId}` },
  );
}

/**
 * The approval gate. A run of a stack with approval policies is created (and enters
 * UNCONFIRMED or PENDING_REVIEW) with `needs_approval` set, so the scheduler does not
 * start it and it cannot be confirmed; `runs.evaluateApproval` then asks the policies:
 * - approve: `needs_approval` is cleared (QUEUED: the next scheduling pass starts it;
 *   UNCONFIRMED: it may be confirmed); a PENDING_REVIEW run finishes.
 * - reject: the run fails, with the policy's name in the note.
 * - undecided: nothing; the next review evaluates again.
 * - a failed evaluation fails the run with the error (never a silent pass).
 * The verdict is written as a compare-and-set on the state_version the evaluation read,
 * in one transaction with the run row locked; a run that moved on meanwhile is left
 * alone (its new state enqueued its own evaluation if it needs one). Jobs of one run
 * form a FIFO group, so two reviews are judged in order.
 */
export function createRunApproval(deps: {
  db: Database;
  clock: () => Date;
  log: Logger;
  policies: Pick<RunPolicyPort, "decideApproval">;
}) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "runs", component: "approval" });

  async function evaluate(runId: string): Promise<string> {
    const run = await repo.findRun(db, runId);
    if (!run) return "gone";
    if (!run.needsApproval || !isReviewable(run.state) || isTerminal(run.state))
      return "not waiting";
    const [reviews, transitions] = await Promise.all([
      repo.listReviews(db, run.id),
      repo.listTransitions(db, run.id),
    ]);
    const since =
      transitions.find((t) => t.stateVersion === run.stateVersion)?.createdAt ??
      run.updatedAt;
    const verdict = await deps.policies.decideApproval(run, reviews, since);
    if (verdict.decision === "undecided" && verdict.errors.length === 0)
      return "undecided";
    try {
      await db.transaction().execute(async (tx) => {
        const locked = await repo.lockRun(tx, run.id);
        if (!locked || locked.stateVersion !== run.stateVersion)
          throw new RunVersionConflictError(run.id, run.stateVersion);
        const now = clock();
        if (verdict.errors.length || verdict.decision === "reject") {
          const reason = verdict.errors.length
            ? verdict.errors.join("; ")
            : verdict.note;
          await repo.transitionRun(tx, {
            runId: run.id,
            expectedStateVersion: run.stateVersion,
            to: "FAILED",
            actor: null,
            note: `Failed: ${reason}`,
            failureReason: reason,
            now,
          });
        } else if (run.state === "PENDING_REVIEW") {
          await repo.setNeedsApproval(tx, run.id, false);
          await repo.transitionRun(tx, {
            runId: run.id,
            expectedStateVersion: run.stateVersion,
            to: "FINISHED",
            actor: null,
            note: verdict.note,
            now,
          });
        } else {
          await repo.setNeedsApproval(tx, run.id, false);
        }
        await enqueueSchedulePass(tx);
        await enqueueDispatch(tx);
      });
    } catch (err) {
      if (err instanceof RunVersionConflictError) return "moved on";
      throw err;
    }
    log.info(
      { runId, decision: verdict.decision, errors: verdict.errors },
      "approval policies decided",
    );
    return verdict.errors.length ? "failed" : verdict.decision;
  }

  return {
    evaluate,
    jobs: {
      [EVALUATE_APPROVAL_JOB]: defineJob(
        z.object({ runId: z.string().min(1) }),
        async ({ runId }) => {
          await evaluate(runId);
        },
      ),
    } satisfies JobCatalog,
  };
}

export type RunApproval = ReturnType<typeof createRunApproval>;
