import type {
  RunEvent as WorkerRunEvent,
  RunLogChunk,
} from "@stackyard/protocol";
import type { Database } from "../../platform/db/index.ts";
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthorizedError,
} from "../../platform/errors.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { BlobStore } from "../../platform/storage/index.ts";
import type { StackService } from "../stacks/index.ts";
import {
  PHASE_STATES,
  isTerminal,
  releasesWorker,
  type RunState,
} from "../run-status/index.ts";
import { nextState, type RunEvent, type RunSnapshot } from "./run.ts";
import { walkTo } from "./run-phases.ts";
import { IllegalRunTransitionError, RunNotFoundError } from "./run-errors.ts";
import type { RunDispatcher, WorkerSlots } from "./run-dispatch.ts";
import { enqueueDispatch, enqueueSchedulePass } from "./run-enqueue.ts";
import * as logRepo from "./run-log-repo.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord } from "./run-repo.ts";
import type { RunTokenClaims, RunTokenSigner } from "./run-token.ts";
import {
  enqueueApprovalEvaluation,
  type RunPolicyPort,
} from "./run-policies.ts";

/**
 * What workers report over the worker API (run-worker-routes.ts): log chunks, state
 * changes and phase results, and the planned workspace.
 *
 * Every report is idempotent (the launcher retries until it gets an answer):
 * - A report naming an assignment other than the run's current one (`worker_assignment`)
 *   is acknowledged and ignored: it belongs to a hand-over the server has given up on.
 * - A `state` event for a state the run already reached or passed is acknowledged and
 *   ignored. Otherwise the run walks there through the engine's own events (`prepared`
 *   from PREPARING*, `initialized` from INITIALIZING), computed with `nextState` first
 *   and written only if the whole walk is legal.
 * - A `result` on a run that already ended is acknowledged and ignored (and frees the
 *   worker if it still held the run, e.g. after a stop).
 * - A report the state machine forbids (a plan result for a task) is a 409: the worker
 *   is wrong and retrying cannot help.
 * Event handling locks the run row, so two reports of one run never interleave; every
 * transition is still a compare-and-set on state_version.
 *
 * When a run stops needing its worker (terminal, UNCONFIRMED, PENDING_REVIEW) the worker
 * is freed in the same transaction, which also enqueues a scheduling and a dispatch pass.
 * An autodeployed plan (PLANNING → APPLYING) keeps the worker: the transition sets a new
 * assignment and, after the commit, the same worker gets `run.assign` for the apply.
 */

export interface RunReportsDeps {
  db: Database;
  clock: () => Date;
  log: Logger;
  stacks: Pick<StackService, "loadStack">;
  runTokens: Pick<RunTokenSigner, "verify">;
  workerSlots: WorkerSlots;
  dispatcher: Pick<RunDispatcher, "assignHeldRun">;
  storage: Pick<BlobStore, "get" | "head" | "put">;
  workspacesBucket: string;
  /** Plan and approval policies (run-policies.ts); absent: plans are not judged. */
  policies?: Pick<RunPolicyPort, "decidePlan" | "approvalRequired">;
}

/** What the plan policies said about a plan, computed before the report's transaction. */
interface PlanJudgement {
  deny: string[];
  warn: string[];
  errors: string[];
  approvalRequired: boolean;
}

export interface ReportOutcome {
  /** False when the report was acknowledged but ignored. */
  accepted: boolean;
  /** The run's state after the report. */
  state: RunState;
  /** Why it was ignored. */
  reason?: string;
}

function snapshotOf(run: RunRecord): RunSnapshot {
  return {
    id: run.id,
    type: run.type,
    state: run.state,
    skipInit: run.skipInit,
    awaitingApproval: run.needsApproval,
  };
}

/** `Run.delta`: counts and addresses only, never attribute values (they may be secret). */
function deltaOf(plan: NonNullable<ResultEvent["plan"]>) {
  return {
    addCount: plan.add,
    changeCount: plan.change,
    deleteCount: plan.destroy,
    resources: plan.resources.length,
    changes: plan.resources.map((r) => ({
      address: r.address,
      actions: r.actions,
    })),
  };
}

type ResultEvent = Extract<WorkerRunEvent, { type: "result" }>;

export function createRunReports(deps: RunReportsDeps) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "runs", component: "reports" });

  const workspaceKey = (runId: string) => `${runId}.tar.gz.sealed`;

  /** Enters `target` if it is ahead of the run; returns the run after the walk. */
  async function enter(
    tx: Database,
    run: RunRecord,
    target: RunState,
    workerId: string,
  ): Promise<RunRecord | null> {
    const steps = walkTo(snapshotOf(run), target);
    if (!steps) return null;
    let current = run;
    for (const step of steps) {
      current = await repo.transitionRun(tx, {
        runId: run.id,
        expectedStateVersion: current.stateVersion,
        to: step.to,
        actor: null,
        note: `Reported by worker ${workerId}`,
        now: clock(),
      });
    }
    return current;
  }

  async function afterTransition(
    tx: Database,
    run: RunRecord,
    workerId: string,
  ): Promise<void> {
    if (!releasesWorker(run.state)) return;
    await deps.workerSlots.releaseWorker(tx, workerId, run.id);
    await enqueueSchedulePass(tx);
    await enqueueDispatch(tx);
  }

  /**
   * Plan policies for a successful plan result, evaluated before the report's
   * transaction (an evaluation may take up to its timeout, and must not hold the run
   * row). A retried report of the same assignment reuses the first evaluation, so the
   * launcher's retries never evaluate twice; entries expire after 5 minutes.
   */
  const judgements = new Map<string, Promise<PlanJudgement | null>>();
  function judgePlan(
    runId: string,
    event: WorkerRunEvent,
  ): Promise<PlanJudgement | null> {
    const policies = deps.policies;
    if (
      !policies ||
      event.type !== "result" ||
      event.phase !== "plan" ||
      !event.ok
    )
      return Promise.resolve(null);
    const key = `${runId}:${event.assignment}`;
    let pending = judgements.get(key);
    if (!pending) {
      pending = (async () => {
        const run = await repo.findRun(db, runId);
        if (
          !run ||
          run.workerAssignment !== event.assignment ||
          isTerminal(run.state)
        )
          return null;
        const [verdict, approvalRequired] = await Promise.all([
          policies.decidePlan({ ...run, state: "PLANNING" }),
          policies.approvalRequired(run.stackId),
        ]);
        return { ...verdict, approvalRequired };
      })();
      judgements.set(key, pending);
      setTimeout(() => judgements.delete(key), 5 * 60_000).unref();
      pending.catch(() => judgements.delete(key));
    }
    return pending;
  }

  function ignored(run: RunRecord, reason: string): ReportOutcome {
    return { accepted: false, state: run.state, reason };
  }

  async function handleResult(
    tx: Database,
    locked: RunRecord,
    event: ResultEvent,
    workerId: string,
    judged: PlanJudgement | null,
  ): Promise<{ outcome: ReportOutcome; reassign: RunRecord | null }> {
    let run = locked;
    const now = clock();
    if (!event.ok) {
      const stop =
        event.stopped &&
        (() => {
          try {
            nextState(snapshotOf(run), { type: "stop" });
            return true;
          } catch {
            return false;
          }
        })();
      const reason =
        event.failureReason ??
        (event.stopped
          ? "the run was stopped on the worker"
          : `the ${event.phase} phase failed on worker ${workerId} (no reason given)`);
      run = await repo.transitionRun(tx, {
        runId: run.id,
        expectedStateVersion: run.stateVersion,
        to: nextState(
          snapshotOf(run),
          stop ? { type: "stop" } : { type: "failed", reason },
        ),
        actor: null,
        note: stop ? `Stopped on worker ${workerId}` : `Failed: ${reason}`,
        ...(stop ? {} : { failureReason: reason }),
        now,
      });
      await afterTransition(tx, run, workerId);
      return { outcome: { accepted: true, state: run.state }, reassign: null };
    }

    run = (await enter(tx, run, PHASE_STATES[event.phase], workerId)) ?? run;
    // Plan policies: a deny or a failed evaluation fails the run, with the messages.
    if (
      event.phase === "plan" &&
      judged &&
      (judged.deny.length || judged.errors.length)
    ) {
      const reason = judged.errors.length
        ? `plan policy evaluation failed: ${judged.errors.join("; ")}`
        : `denied by plan policy: ${judged.deny.join("; ")}`;
      run = await repo.transitionRun(tx, {
        runId: run.id,
        expectedStateVersion: run.stateVersion,
        to: nextState(snapshotOf(run), { type: "failed", reason }),
        actor: null,
        note: `Failed: ${reason}`,
        failureReason: reason,
        ...(event.plan ? { delta: deltaOf(event.plan) } : {}),
        now,
      });
      await afterTransition(tx, run, workerId);
      return { outcome: { accepted: true, state: run.state }, reassign: null };
    }
    let engineEvent: RunEvent;
    let delta: unknown;
    switch (event.phase) {
      case "plan": {
        const stack = await deps.stacks.loadStack(run.stackId);
        const hasChanges = event.plan?.hasChanges ?? false;
        engineEvent = {
          type: "planned",
          hasChanges,
          warned: (judged?.warn.length ?? 0) > 0,
          reviewRequired: judged?.approvalRequired ?? false,
          autodeploy: stack?.autodeploy ?? false,
          stackLocked:
            stack?.lockedBy !== null &&
            stack?.lockedBy !== undefined &&
            stack.lockedBy !== run.triggeredBy,
        };
        if (event.plan) delta = deltaOf(event.plan);
        break;
      }
      case "apply":
        engineEvent = { type: "applied" };
        break;
      case "perform":
        engineEvent = { type: "performed" };
        break;
      case "destroy":
        engineEvent = { type: "destroyed" };
        break;
    }
    const to = nextState(snapshotOf(run), engineEvent);
    // Autodeploy: the same worker applies; the new version is the new assignment.
    const keepsWorker = event.phase === "plan" && to === "APPLYING";
    const warnings = judged?.warn.length
      ? `; plan policy warnings: ${judged.warn.join("; ")}`
      : "";
    // Approval policies hold an unconfirmed or pending-review run until they approve.
    if (
      judged?.approvalRequired &&
      (to === "UNCONFIRMED" || to === "PENDING_REVIEW")
    ) {
      await repo.setNeedsApproval(tx, run.id, true);
      await enqueueApprovalEvaluation(tx, run.id);
    }
    run = await repo.transitionRun(tx, {
      runId: run.id,
      expectedStateVersion: run.stateVersion,
      to,
      actor: null,
      note: keepsWorker
        ? `Planned on worker ${workerId}; autodeploy applies it on the same worker`
        : `Reported by worker ${workerId}${warnings}`,
      ...(delta !== undefined ? { delta } : {}),
      ...(keepsWorker ? { newAssignment: true } : {}),
      now,
    });
    await afterTransition(tx, run, workerId);
    return {
      outcome: { accepted: true, state: run.state },
      reassign: keepsWorker ? run : null,
    };
  }

  return {
    /**
     * Checks a worker API call: the bearer run token is valid, names `runId`, and the run
     * is (still) held by the token's worker. 401 for a bad token, 403 for a token of
     * another run or worker, 404 for an unknown run.
     */
    async authorize(
      bearer: string | null,
      runId: string,
    ): Promise<RunTokenClaims & { record: RunRecord }> {
      if (!bearer)
        throw new UnauthorizedError(
          "the worker API needs the run token from run.assign (Authorization: Bearer <runToken>)",
        );
      const claims = await deps.runTokens.verify(bearer);
      if (claims.run !== runId)
        throw new ForbiddenError(
          `this run token is for run ${claims.run}, not ${runId}`,
        );
      const run = await repo.findRun(db, runId);
      if (!run) throw new RunNotFoundError(runId);
      if (run.workerId !== claims.worker)
        throw new ForbiddenError(
          `run ${runId} is not held by worker ${claims.worker}${run.workerId ? ` (it was handed to worker ${run.workerId})` : ""}`,
        );
      return { ...claims, record: run };
    },

    /** Stores a log chunk (idempotent) and records the activity. */
    async appendLog(
      claims: RunTokenClaims,
      chunk: RunLogChunk,
    ): Promise<ReportOutcome & { stored: boolean }> {
      let run = await repo.findRun(db, claims.run);
      if (!run) throw new RunNotFoundError(claims.run);
      // Chunks may overtake their state event: enter the state as the event would.
      if (
        run.workerAssignment === chunk.assignment &&
        !isTerminal(run.state) &&
        walkTo(snapshotOf(run), chunk.state)
      ) {
        run = await db.transaction().execute(async (tx) => {
          const locked = await repo.lockRun(tx, claims.run);
          if (!locked) throw new RunNotFoundError(claims.run);
          if (locked.workerAssignment !== chunk.assignment) return locked;
          return (
            (await enter(tx, locked, chunk.state, claims.worker)) ?? locked
          );
        });
      }
      const stateVersion = await logRepo.findStateVersion(
        db,
        run.id,
        chunk.state,
        chunk.assignment,
      );
      if (stateVersion === null)
        return {
          ...ignored(
            run,
            `run ${run.id} never entered ${chunk.state} in assignment ${chunk.assignment}`,
          ),
          stored: false,
        };
      const now = clock();
      const stored = await logRepo.insertLogChunk(db, {
        runId: run.id,
        state: chunk.state,
        stateVersion,
        seq: chunk.seq,
        text: chunk.text,
        now,
      });
      if (!isTerminal(run.state)) await repo.touchRunActivity(db, run.id, now);
      return { accepted: true, state: run.state, stored };
    },

    /** Applies a state or result event (see the module comment for the rules). */
    async handleEvent(
      claims: RunTokenClaims,
      event: WorkerRunEvent,
    ): Promise<ReportOutcome> {
      let reassign: RunRecord | null = null;
      const judged = await judgePlan(claims.run, event);
      const outcome = await db.transaction().execute(async (tx) => {
        const run = await repo.lockRun(tx, claims.run);
        if (!run) throw new RunNotFoundError(claims.run);
        if (run.workerAssignment !== event.assignment)
          return ignored(
            run,
            `assignment ${event.assignment} is no longer current (the run's is ${run.workerAssignment ?? "none"})`,
          );
        if (isTerminal(run.state)) {
          await deps.workerSlots.releaseWorker(tx, claims.worker, run.id);
          return ignored(run, `the run has already ended (${run.state})`);
        }
        try {
          if (event.type === "state") {
            const entered = await enter(tx, run, event.state, claims.worker);
            if (!entered)
              return ignored(
                run,
                `the run is in ${run.state}; ${event.state} is not ahead of it`,
              );
            return { accepted: true, state: entered.state };
          }
          const handled = await handleResult(
            tx,
            run,
            event,
            claims.worker,
            judged,
          );
          reassign = handled.reassign;
          return handled.outcome;
        } catch (err) {
          if (err instanceof IllegalRunTransitionError)
            throw new ConflictError(`worker report refused: ${err.message}`, {
              cause: err,
            });
          throw err;
        }
      });
      if (reassign) await deps.dispatcher.assignHeldRun(reassign);
      if (outcome.accepted)
        log.info(
          {
            runId: claims.run,
            workerId: claims.worker,
            event: event.type,
            state: outcome.state,
          },
          "worker report applied",
        );
      return outcome;
    },

    /** Stores the sealed planned workspace (text) for the apply phase. */
    async putWorkspace(
      claims: RunTokenClaims,
      sealed: Buffer | string,
    ): Promise<void> {
      await deps.storage.put(
        deps.workspacesBucket,
        workspaceKey(claims.run),
        sealed,
        { contentType: "text/plain" },
      );
      await repo.touchRunActivity(db, claims.run, clock());
    },

    /** The sealed workspace stored by the plan phase. */
    async getWorkspace(claims: RunTokenClaims): Promise<Buffer> {
      const key = workspaceKey(claims.run);
      if (!(await deps.storage.head(deps.workspacesBucket, key)))
        throw new NotFoundError(
          `run ${claims.run} has no stored workspace: the plan phase did not upload one (PUT .../workspace), or it expired`,
        );
      const body = await deps.storage.get(deps.workspacesBucket, key);
      await repo.touchRunActivity(db, claims.run, clock());
      // Bytes as stored: a workspace may exceed the largest string V8 can hold.
      return body;
    },
  };
}

export type RunReports = ReturnType<typeof createRunReports>;
