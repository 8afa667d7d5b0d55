import {
  MAX_RUNTIME_CONFIG_YAML_CHARS,
  parseRuntimeConfig,
  RuntimeConfigError,
} from "@stackyard/protocol";
import type { Database } from "../../platform/db/index.ts";
import { ConflictError, ValidationError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import { StackLockedError, lockHolder } from "../stacks/index.ts";
import { assertActionAllowed, isBlocking, type RunType } from "./run.ts";
import { NoWorkerPoolError, StackDisabledError } from "./run-errors.ts";
import { enqueueSchedulePass } from "./run-enqueue.ts";
import { enqueueApprovalEvaluation } from "./run-policies.ts";
import { findDefaultPoolId } from "./run-queries.ts";
import * as repo from "./run-repo.ts";
import type { RunRecord } from "./run-repo.ts";
import {
  snapshotOf,
  type RunRef,
  type RunServiceContext,
  type RunServiceDeps,
} from "./run-service-context.ts";

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

/**
 * The use cases that create runs: trigger (user, trigger policy, VCS event), tasks,
 * retry and promote. Every run is inserted QUEUED with its first transition, its approval
 * flag and a `runs.schedule` enqueue in one transaction.
 */
export function createRunCreation(
  deps: RunServiceDeps,
  ctx: RunServiceContext,
) {
  const { db, clock } = deps;
  const { loadStack, syncedStack, loadRun, isLatestOfList, newRunId } = ctx;

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
  };
}
