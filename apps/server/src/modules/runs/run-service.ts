import { monotonicFactory } from "ulid";
import {
  isResourceAddress,
  MAX_RUNTIME_CONFIG_YAML_CHARS,
  parseRuntimeConfig,
  RuntimeConfigError,
} from "@stackyard/protocol";
import type { Database } from "../../platform/db/index.ts";
import {
  ConflictError,
  NotFoundError,
  ValidationError,
} from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import {
  StackLockedError,
  StackNotFoundError,
  lockHolder,
  type SpaceAccess,
  type StackService,
} from "../stacks/index.ts";
import {
  assertActionAllowed,
  canRetry,
  isBlocking,
  isTerminal,
  nextState,
  type RunAction,
  type RunEvent,
  type RunSnapshot,
  type RunState,
  type RunType,
} from "./run.ts";
import {
  NoWorkerPoolError,
  RunNotFoundError,
  RunVersionConflictError,
  StackDisabledError,
} from "./run-errors.ts";
import { enqueueDispatch, enqueueSchedulePass } from "./run-enqueue.ts";
import { countPendingRuns, findDefaultPoolId } from "./run-queries.ts";
import * as repo from "./run-repo.ts";
import {
  enqueueApprovalEvaluation,
  type RunPolicyPort,
} from "./run-policies.ts";
import type { RunRecord, RunReviewRecord, RunTransition } from "./run-repo.ts";
import type { RunScheduler } from "./run-scheduling.ts";
import type { Logger } from "../../platform/log/logger.ts";

export interface RunServiceDeps {
  db: Database;
  access: Pick<SpaceAccess, "assertCanRead" | "assertCanWrite">;
  stacks: Pick<StackService, "loadStack">;
  scheduler: Pick<RunScheduler, "waitingReason">;
  /**
   * Tells the worker holding a stopped run to stop (run-dispatch.ts `sendStop`), after the
   * commit. Without it (no execution wired) the stop is only recorded.
   */
  notifyStop?: (run: RunRecord, reason: string) => Promise<void>;
  clock: () => Date;
  newRunId?: () => string;
  newReviewId?: () => string;
  /**
   * Approval policies (run-policies.ts): runs of a stack they apply to are created
   * waiting for them, and reviews are judged by them. Absent: no approval gate.
   */
  policies?: Pick<RunPolicyPort, "approvalRequired">;
  /**
   * Sets a stack's tracked commit to its branch head (the stacks module's `syncCommit`),
   * for a run triggered on a stack that has none yet: Spacelift's stacks always know
   * their commit, and clients read it back from `Run.commit` and `Stack.trackedCommit`.
   * Absent, or when the branch cannot be read, the worker clones the branch head and the
   * run's commit stays unknown.
   */
  syncTrackedCommit?: (session: Session, stackId: string) => Promise<unknown>;
  log?: Pick<Logger, "warn">;
}

/** The run lists of a stack (GraphQL `Stack.runs`, `proposedRuns`, `tasks`). */
export type RunList = "runs" | "proposedRuns" | "tasks";

/**
 * `Stack.runs` holds the runs that change the stack (tracked and destroy runs; spacectl's
 * `stack run list` and `--run-latest` read it), `proposedRuns` the previews, `tasks` the
 * tasks.
 */
export const RUN_LIST_TYPES: Readonly<Record<RunList, readonly RunType[]>> = {
  runs: ["TRACKED", "DESTROY"],
  proposedRuns: ["PROPOSED"],
  tasks: ["TASK"],
};

function listOf(type: RunType): RunList {
  return type === "PROPOSED"
    ? "proposedRuns"
    : type === "TASK"
      ? "tasks"
      : "runs";
}

export interface RunRef {
  stackId: string;
  runId: string;
}

export interface TriggerInput {
  stackId: string;
  commitSha?: string | null;
  runType?: "TRACKED" | "PROPOSED" | null;
  runtimeConfig?: unknown;
  /** Spacelift-User-Provided-Run-Metadata blobs. */
  metadata?: string | null;
}

/**
 * The trigger-time check of `runtimeConfig.yaml` (spacectl `--runtime-config`): it must
 * fit the run message and be a valid runtime configuration document (YAML, the
 * `.spacelift/config.yml` schema), so a mistake is refused before any run exists. The
 * launcher validates it again before applying it.
 */
function checkRuntimeConfigYaml(runtimeConfig: unknown): void {
  if (typeof runtimeConfig !== "object" || runtimeConfig === null) return;
  const yaml = (runtimeConfig as { yaml?: unknown }).yaml;
  if (typeof yaml !== "string") return;
  if (yaml.length > MAX_RUNTIME_CONFIG_YAML_CHARS)
    throw new ValidationError(
      `runtimeConfig.yaml is ${yaml.length} characters; a runtime configuration may be at most ${MAX_RUNTIME_CONFIG_YAML_CHARS} (${MAX_RUNTIME_CONFIG_YAML_CHARS / 1024} KiB)`,
    );
  try {
    parseRuntimeConfig(yaml, "runtimeConfig.yaml");
  } catch (err) {
    if (err instanceof RuntimeConfigError)
      throw new ValidationError(err.message);
    throw err;
  }
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

/**
 * Run use cases: trigger, tasks, the user actions of the state machine, and the reads
 * behind the GraphQL `Run` type.
 *
 * Access: writes need WRITE on the stack's space, reads READ; a run or stack the caller
 * cannot see is "not found". Every action is checked by the pure rules
 * (`assertActionAllowed`), then written as a compare-and-set on the state_version it was
 * checked against, together with a `runs.schedule` enqueue, in one transaction. Two
 * racing actions on a run: the loser reloads, and gets the rules' explanation when the
 * action no longer applies (e.g. "is in state CONFIRMED; confirm is allowed only in
 * UNCONFIRMED"), else a RunVersionConflictError.
 */
export function createRunService(deps: RunServiceDeps) {
  const { db, access, stacks, clock } = deps;
  const ulid = monotonicFactory();
  const newRunId = deps.newRunId ?? (() => `run_${ulid().toLowerCase()}`);
  const newReviewId = deps.newReviewId ?? (() => `rvw_${ulid().toLowerCase()}`);

  async function loadStack(
    session: Session,
    stackId: string,
    level: "read" | "write",
  ) {
    const stack = await stacks.loadStack(stackId);
    if (!stack) throw new StackNotFoundError(stackId);
    const hidden = new StackNotFoundError(stackId);
    if (level === "write")
      await access.assertCanWrite(session, stack.spaceId, hidden);
    else await access.assertCanRead(session, stack.spaceId, hidden);
    return stack;
  }

  /** The stack with its tracked commit set to the branch head, or as it was. */
  async function syncedStack(
    session: Session,
    stack: Awaited<ReturnType<typeof loadStack>>,
  ) {
    try {
      await deps.syncTrackedCommit?.(session, stack.id);
      return await loadStack(session, stack.id, "write");
    } catch (err) {
      deps.log?.warn(
        { stackId: stack.id, error: (err as Error).message },
        "could not read the stack's branch head; the run clones it",
      );
      return stack;
    }
  }

  async function loadRun(
    session: Session,
    ref: RunRef,
    level: "read" | "write",
  ): Promise<RunRecord> {
    const run = await repo.findRun(db, ref.runId);
    if (!run || run.stackId !== ref.stackId)
      throw new RunNotFoundError(ref.runId);
    const stack = await stacks.loadStack(run.stackId);
    if (!stack) throw new RunNotFoundError(ref.runId);
    const hidden = new RunNotFoundError(ref.runId);
    if (level === "write")
      await access.assertCanWrite(session, stack.spaceId, hidden);
    else await access.assertCanRead(session, stack.spaceId, hidden);
    return run;
  }

  /**
   * The run an action names, or, when `runId` is null, the stack's run holding its lock:
   * what `run: null` means for confirm, discard and review.
   */
  async function loadRunOrBlocker(
    session: Session,
    stackId: string,
    runId: string | null | undefined,
    action: RunAction,
  ): Promise<RunRecord> {
    if (runId) return loadRun(session, { stackId, runId }, "write");
    await loadStack(session, stackId, "write");
    const run = await repo.findActiveBlockingRun(db, stackId);
    if (!run)
      throw new ValidationError(
        `no run was given and stack ${stackId} has no active run to ${action}`,
      );
    return run;
  }

  async function createRun(
    session: Session,
    stackId: string,
    spec: {
      type: RunType;
      commitSha?: string | null;
      command?: string | null;
      skipInit?: boolean;
      runtimeConfig?: unknown;
      metadata?: string | null;
      retryOf?: string | null;
      note: string;
      /** The commit as a VCS event reported it (else the stack's tracked commit, if it matches). */
      commit?: { message: string; author: string; at: Date | null };
      branch?: string;
      /** Runs in the insert transaction; a throw rolls the run back. */
      inTx?: (tx: Database, run: RunRecord) => Promise<void>;
      /** A lock holder the run acts for besides its actor (a VCS push policy's lock id). */
      lockId?: string | null;
      /** Created prioritized (a push policy's `prioritize`). */
      prioritized?: boolean;
    },
  ): Promise<RunRecord> {
    let stack = await loadStack(session, stackId, "write");
    if (stack.isDisabled) throw new StackDisabledError(stack.id);
    if (
      !spec.commitSha?.trim() &&
      !stack.trackedCommit &&
      deps.syncTrackedCommit
    )
      stack = await syncedStack(session, stack);
    const actor = lockHolder(session);
    if (
      stack.lockedBy !== null &&
      stack.lockedBy !== actor &&
      stack.lockedBy !== (spec.lockId || null)
    )
      throw new StackLockedError(stack.id, stack.lockedBy);
    const poolId = stack.workerPoolId ?? (await findDefaultPoolId(db));
    if (!poolId) throw new NoWorkerPoolError(stack.id);

    const tracked = stack.trackedCommit;
    const sha = spec.commitSha?.trim() || tracked?.sha || null;
    const known =
      spec.commit ?? (tracked && tracked.sha === sha ? tracked : null);
    const message = known?.message ?? "";
    const title =
      spec.type === "TASK"
        ? (spec.command ?? "")
        : message.split("\n")[0] || `${spec.type} run triggered by ${actor}`;
    const now = clock();
    const needsApproval =
      (await deps.policies?.approvalRequired(stack.id)) ?? false;
    return db.transaction().execute(async (tx) => {
      const inserted = await repo.insertRun(
        tx,
        {
          id: newRunId(),
          stackId: stack.id,
          type: spec.type,
          blocking: isBlocking(spec.type),
          workerPoolId: poolId,
          commitSha: sha,
          commitMessage: message,
          commitAuthor: known?.author ?? "",
          commitAt: known?.at ?? null,
          branch: spec.branch ?? stack.branch,
          title,
          command: spec.command ?? null,
          skipInit: spec.skipInit ?? false,
          triggeredBy: actor,
          runtimeConfig: spec.runtimeConfig,
          userMetadata: spec.metadata ? [spec.metadata] : [],
          retryOf: spec.retryOf ?? null,
          prioritized: spec.prioritized ?? false,
        },
        { actor, note: spec.note, now },
      );
      // Approval policies: the run waits in QUEUED until they approve it.
      const run = needsApproval
        ? { ...inserted, needsApproval: true }
        : inserted;
      if (needsApproval) {
        await repo.setNeedsApproval(tx, run.id, true);
        await enqueueApprovalEvaluation(tx, run.id);
      }
      await spec.inTx?.(tx, run);
      await enqueueSchedulePass(tx);
      return run;
    });
  }

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

  function noteOf(verb: string, session: Session, note?: string | null) {
    const by = `${verb} by ${lockHolder(session)}`;
    return note?.trim() ? `${by}: ${note.trim()}` : by;
  }

  async function isLatestOfList(run: RunRecord): Promise<boolean> {
    const latest = await repo.findLatestRunOfStack(
      db,
      run.stackId,
      RUN_LIST_TYPES[listOf(run.type)],
    );
    return latest?.id === run.id;
  }

  return {
    /** A TRACKED (deploy) or PROPOSED (preview) run on the stack's tracked commit or `commitSha`. */
    trigger(session: Session, input: TriggerInput): Promise<RunRecord> {
      const type = input.runType ?? "TRACKED";
      if (type !== "TRACKED" && type !== "PROPOSED")
        throw new ValidationError(
          `runTrigger creates TRACKED or PROPOSED runs, not ${String(type)}`,
        );
      checkRuntimeConfigYaml(input.runtimeConfig);
      return createRun(session, input.stackId, {
        type,
        commitSha: input.commitSha,
        runtimeConfig: input.runtimeConfig,
        metadata: input.metadata,
        note: `Triggered by ${lockHolder(session)}`,
      });
    },

    /**
     * A tracked run started by a trigger policy after another run ended (`note` says
     * which). `inTx` runs in the insert transaction (the policies module records the
     * trigger there, so a retried evaluation creating it twice rolls back).
     */
    triggerFromPolicy(
      session: Session,
      input: { stackId: string; note: string },
      inTx: (tx: Database, run: RunRecord) => Promise<void>,
    ): Promise<RunRecord> {
      return createRun(session, input.stackId, {
        type: "TRACKED",
        note: input.note,
        inTx,
      });
    },

    /**
     * A run caused by a VCS event (push, pull request, raw git poll) on the event's
     * commit and branch. `session` is the identity the composition root gives VCS;
     * `inTx` runs in the run's insert transaction (the VCS module records its dedup row
     * there, so a duplicate rolls the run back). `lockId`: a push policy's lock id; the
     * run may start while the stack is locked by exactly that id.
     */
    triggerFromVcs(
      session: Session,
      input: {
        stackId: string;
        runType: "TRACKED" | "PROPOSED";
        commitSha: string;
        commit: { message: string; author: string; at: Date | null };
        branch: string;
        note: string;
        lockId?: string | null;
        prioritized?: boolean;
      },
      inTx: (tx: Database, run: RunRecord) => Promise<void>,
    ): Promise<RunRecord> {
      return createRun(session, input.stackId, {
        prioritized: input.prioritized,
        type: input.runType,
        commitSha: input.commitSha,
        commit: input.commit,
        branch: input.branch,
        note: input.note,
        inTx,
        lockId: input.lockId,
      });
    },

    createTask(
      session: Session,
      input: {
        stackId: string;
        command: string;
        skipInitialization?: boolean | null;
      },
    ): Promise<RunRecord> {
      const command = input.command.trim();
      if (!command) throw new ValidationError("a task needs a command");
      return createRun(session, input.stackId, {
        type: "TASK",
        command,
        skipInit: input.skipInitialization ?? false,
        note: `Task started by ${lockHolder(session)}`,
      });
    },

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

    /**
     * A new run of the same type, commit and command; the old run stays as it ended.
     * A tracked run may be retried only while it is the stack's latest tracked run:
     * retrying an older one would apply a plan older than changes made since.
     */
    async retry(session: Session, input: RunRef): Promise<RunRecord> {
      const run = await loadRun(session, input, "write");
      assertActionAllowed(snapshotOf(run), "retry");
      if (run.type === "TRACKED" && !(await isLatestOfList(run))) {
        throw new ConflictError(
          `Run ${run.id} is not the latest tracked run of stack ${run.stackId}; only the latest tracked run can be retried, so an older plan never overrides newer changes`,
        );
      }
      return createRun(session, run.stackId, {
        type: run.type,
        commitSha: run.commitSha,
        command: run.command,
        skipInit: run.skipInit,
        runtimeConfig: run.runtimeConfig ?? undefined,
        retryOf: run.id,
        note: `Retry of ${run.id} by ${lockHolder(session)}`,
      });
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

    /** Starts a tracked run on the commit of a FINISHED proposed run. */
    async promote(session: Session, input: RunRef): Promise<RunRecord> {
      const run = await loadRun(session, input, "write");
      if (run.type !== "PROPOSED" || run.state !== "FINISHED") {
        throw new ValidationError(
          `Run ${run.id} (${run.type}) is in state ${run.state}; only a FINISHED proposed run can be promoted`,
        );
      }
      return createRun(session, run.stackId, {
        type: "TRACKED",
        commitSha: run.commitSha,
        runtimeConfig: run.runtimeConfig ?? undefined,
        note: `Promoted from ${run.id} by ${lockHolder(session)}`,
      });
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

export type RunService = ReturnType<typeof createRunService>;
