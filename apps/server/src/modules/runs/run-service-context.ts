import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { ValidationError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { Session } from "../auth/index.ts";
import {
  StackNotFoundError,
  lockHolder,
  type SpaceAccess,
  type StackService,
} from "../stacks/index.ts";
import type { RunAction, RunSnapshot, RunType } from "./run.ts";
import { RunNotFoundError } from "./run-errors.ts";
import type { RunPolicyPort } from "./run-policies.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord } from "./run-repo.ts";
import type { RunScheduler } from "./run-scheduling.ts";

/**
 * What the run service's use cases share (run-service.ts composes them): its deps, the
 * run lists, and the loaders that check the caller's access (writes need WRITE on the
 * stack's space, reads READ; a run or stack the caller cannot see is "not found").
 */
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

export function listOf(type: RunType): RunList {
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

export interface RunRef {
  stackId: string;
  runId: string;
}

export function snapshotOf(run: RunRecord): RunSnapshot {
  return {
    id: run.id,
    type: run.type,
    state: run.state,
    skipInit: run.skipInit,
    awaitingApproval: run.needsApproval,
  };
}

export function noteOf(verb: string, session: Session, note?: string | null) {
  const by = `${verb} by ${lockHolder(session)}`;
  return note?.trim() ? `${by}: ${note.trim()}` : by;
}

/** The loaders and ids the use cases share, bound to the service's deps. */
export function createRunServiceContext(deps: RunServiceDeps) {
  const { db, access, stacks } = deps;
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

  async function isLatestOfList(run: RunRecord): Promise<boolean> {
    const latest = await repo.findLatestRunOfStack(
      db,
      run.stackId,
      RUN_LIST_TYPES[listOf(run.type)],
    );
    return latest?.id === run.id;
  }

  return {
    newRunId,
    newReviewId,
    loadStack,
    syncedStack,
    loadRun,
    loadRunOrBlocker,
    isLatestOfList,
  };
}

export type RunServiceContext = ReturnType<typeof createRunServiceContext>;
