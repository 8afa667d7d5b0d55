import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { isAppError } from "../../platform/errors.ts";
import { unixNanos } from "@stackyard/protocol";
import type { Logger } from "../../platform/log/logger.ts";
import { enqueue } from "../../platform/queue/index.ts";
import type {
  PullRequestEvent,
  PushEvent,
  VcsIntegration,
} from "./provider.ts";
import {
  defaultPushDecider,
  type PushDecider,
  type PushPolicyCommit,
  type PushPolicyInput,
  type PushRules,
} from "./push-decision.ts";
import { PUSH_FAILURE_JOB, type PushFailureJob } from "./vcs-push-feedback.ts";
import * as events from "./vcs-event-repo.ts";
import { listRunsInProgress, type VcsStack } from "./vcs-stack-query.ts";

/**
 * What the VCS module needs from the runs module, injected by the composition root (the
 * runs module is never imported here).
 */
export interface VcsRunsPort {
  /**
   * Creates a QUEUED run on the event's commit. `inTx` runs in the run's insert
   * transaction; a throw there rolls the run back. Throws an AppError when the stack
   * refuses runs (disabled, locked by a user, no worker pool).
   */
  createRun(
    input: {
      stackId: string;
      runType: "TRACKED" | "PROPOSED";
      commitSha: string;
      commit: { message: string; author: string; at: Date | null };
      branch: string;
      triggeredBy: string;
      note: string;
      /**
       * A push policy's lock id: the run is allowed while the stack is locked by exactly
       * this id (the push that holds the lock may run), as it would be for the holder.
       */
      lockId?: string | null;
      /** A push policy's `prioritize`: the run is created prioritized. */
      prioritized?: boolean;
    },
    inTx: (tx: Database, runId: string) => Promise<void>,
  ): Promise<{ id: string }>;
  /** Cancels a run that has not started, or stops one that has; a run past both is left alone. */
  stopRun(ref: { stackId: string; runId: string }, note: string): Promise<void>;
  /**
   * Cancels a run of this stack that has not started (the runs module's cancel action).
   * Throws an AppError when it cannot: not a run of the stack, started, or ended.
   */
  cancelRun(
    ref: { stackId: string; runId: string },
    note: string,
  ): Promise<void>;
}

/**
 * What the push pipeline needs from the stacks module for push policy rules, injected by
 * the composition root. Lock ids are the stack lock's holder string, as user locks are.
 */
export interface VcsStacksPort {
  /**
   * Locks the stack for `holder` unless another holder has it (atomic); relocking by the
   * same holder succeeds. `lockedBy` is the other holder on refusal.
   */
  lock(
    stackId: string,
    holder: string,
    note: string,
  ): Promise<{ locked: boolean; lockedBy: string | null }>;
  /** Unlocks the stack only if `holder` holds it (atomic); false otherwise. */
  unlock(stackId: string, holder: string): Promise<boolean>;
  /** Sets the stack's tracked commit (what a later manual tracked run uses). */
  setTrackedCommit(stackId: string, sha: string, setBy: string): Promise<void>;
}

/** A normalized event plus where it came from. */
export interface PipelineEvent {
  eventId: string;
  source: "WEBHOOK" | "POLL";
  deliveryId: string | null;
  /** null: a raw git stack polled without an integration. */
  integration: Pick<
    VcsIntegration,
    "id" | "name" | "provider" | "isDefault" | "labels" | "spaceId"
  > | null;
  event: PushEvent | PullRequestEvent;
}

export interface StackOutcome {
  stackId: string;
  outcome: events.Outcome;
  runId: string | null;
  reason: string;
}

const DEDUP_CONSTRAINT = "vcs_run_links_stack_id_commit_sha_run_type_key";

const nanos = unixNanos;

export function policyInputOf(
  ev: PipelineEvent,
  stack: VcsStack,
  inProgress: Awaited<ReturnType<typeof listRunsInProgress>>,
): PushPolicyInput {
  const e = ev.event;
  const commitOf = (c: {
    files: string[] | null;
    author: string;
    branch: string;
    at: Date | null;
    hash: string;
    message: string;
    tag: string;
  }): PushPolicyCommit => ({
    affected_files: c.files,
    author: c.author,
    branch: c.branch,
    created_at: nanos(c.at),
    hash: c.hash,
    message: c.message,
    tag: c.tag,
  });
  return {
    push:
      e.kind === "push"
        ? commitOf({
            files: e.affectedFiles,
            author: e.author,
            branch: e.branch ?? "",
            at: e.createdAt,
            hash: e.sha,
            message: e.message,
            tag: e.tag ?? "",
          })
        : null,
    pull_request:
      e.kind === "pull_request"
        ? {
            action: e.action,
            action_initiator: e.author,
            author: e.author,
            base: commitOf({
              files: e.affectedFiles,
              author: e.author,
              branch: e.baseBranch,
              at: null,
              hash: "",
              message: "",
              tag: "",
            }),
            head: commitOf({
              files: e.affectedFiles,
              author: e.author,
              branch: e.headBranch,
              at: null,
              hash: e.headSha,
              message: e.title,
              tag: "",
            }),
            head_owner: e.repository.split("/")[0] ?? "",
            id: e.number,
            labels: e.labels,
            title: e.title,
            diff: e.affectedFiles,
            draft: e.draft,
            closed: e.action === "closed",
            approved: false,
            mergeable: true,
            undiverged: true,
          }
        : null,
    stack: {
      id: stack.id,
      name: stack.name,
      branch: stack.branch,
      project_root: stack.projectRoot,
      additional_project_globs: stack.additionalProjectGlobs,
      labels: stack.labels,
      namespace: stack.namespace,
      repository: stack.repository,
      provider: stack.provider,
      autodeploy: stack.autodeploy,
      administrative: stack.administrative,
      state: stack.state,
      space: { id: stack.spaceId },
      disabled: stack.isDisabled,
      locked_by: stack.lockedBy,
    },
    in_progress: inProgress.map((r) => ({
      id: r.id,
      type: r.type,
      state: r.state,
      branch: r.branch,
      commit: { hash: r.commitSha ?? "" },
      created_at: nanos(r.createdAt),
    })),
    vcs_integration: ev.integration
      ? {
          id: ev.integration.id,
          name: ev.integration.name,
          provider: ev.integration.provider,
          is_default: ev.integration.isDefault,
          labels: ev.integration.labels,
          space: { id: ev.integration.spaceId },
        }
      : null,
  };
}

export interface PushPipelineDeps {
  db: Database;
  runs: VcsRunsPort;
  log: Logger;
  clock: () => Date;
  /** The push decision hook; `decidePush` unless a push policy engine is wired. */
  pushDecider?: PushDecider;
  /** Stack lock and tracked commit for push policy rules; without it those rules are noted as not applied. */
  stacks?: VcsStacksPort;
  /**
   * Stores a push policy's flags on the run it created, in the run's insert transaction
   * (the policies module's flag storage, so later policy types read them as `run.flags`).
   */
  recordRunFlags?: (
    tx: Database,
    runId: string,
    flags: readonly string[],
  ) => Promise<void>;
}

/** The outcome of the one decision per (event, stack), before it is recorded. */
interface Recorded {
  outcome: events.Outcome;
  reason: string;
  rules: readonly string[];
  actions: string[];
}

/**
 * Applies one normalized event to the stacks it concerns: builds the push input per
 * stack, asks the decider, and acts on the decision. Every stack gets exactly one
 * recorded outcome per event: TRACKED/PROPOSED (a run), IGNORED, NOTRIGGER or FAILED,
 * with the reason, the GIT_PUSH rules that fired and what acting on them did.
 *
 * Push policy rules besides the action (`PushRules`, spacelift-reference §2), in order:
 * 1. `unlock`, then `lock` (so one event can hand the lock over): the stack's lock with
 *    the lock id as holder, as a user lock is held by its user's name; a lock held by
 *    another holder is left alone and noted. A run the same event creates may run while
 *    the stack is locked by that id.
 * 2. `cancel`: each id that is a run of this stack and can still be canceled (the runs
 *    module's cancel action: not started) is canceled; any other id is noted, never an
 *    error. This happens whatever the action, as Spacelift's "cancel the older queued
 *    runs" examples expect.
 * 3. `fail`: no run, whatever the action; the outcome is FAILED with `message` (or a
 *    default) and, for a GitHub/GitLab integration, the stack's commit status
 *    (`stackyard/<stack-id>`) is set to failure with the message (`vcs.reportPushFailure`,
 *    enqueued with the outcome).
 * 4. `notrigger` on track/propose: no run; the outcome is NOTRIGGER; a tracked event moves
 *    the stack's tracked commit to the event's sha, so a later manual tracked run uses it.
 * 5. Otherwise track/propose create the run; `flag` lands on it in its insert transaction
 *    (`run.flags` for later policy types), and `prioritize` creates it prioritized, so
 *    the recorded outcome is whole the moment it is visible.
 * Failures of side rules are recorded in the outcome's actions and logged, never fatal.
 *
 * Idempotency (the drain delivers at least once): a run, its `vcs_run_links` row and its
 * outcome commit in one transaction; a stack that already has an outcome for the event
 * is skipped, and the unique (stack, commit, run type) key of the links turns a second
 * run for the same commit into an "ignored: duplicate" outcome. Side rules before the
 * outcome may run again on a redelivery; each is idempotent (lock/unlock by the same id,
 * canceling a canceled run is noted). `afterStack` runs in the transaction that records
 * the stack's outcome (the poller advances its cursor there).
 */
export function createPushPipeline(deps: PushPipelineDeps) {
  const { db, runs, clock } = deps;
  const log = deps.log.child({ module: "vcs", component: "push" });
  const decide = deps.pushDecider ?? defaultPushDecider;
  const ulid = monotonicFactory();

  async function hasOutcome(eventId: string, stackId: string) {
    const row = await db
      .selectFrom("vcs_event_outcomes")
      .select("stack_id")
      .where("event_id", "=", eventId)
      .where("stack_id", "=", stackId)
      .executeTakeFirst();
    return row !== undefined;
  }

  const shaOf = (ev: PipelineEvent) =>
    ev.event.kind === "push" ? ev.event.sha : ev.event.headSha;

  function actorOf(ev: PipelineEvent): string {
    const provider = (ev.integration?.provider ?? "RAW_GIT").toLowerCase();
    return `vcs/${provider === "raw_git" ? "git" : provider}/${ev.event.author || "unknown"}`;
  }

  /** The reason a user reads: the decision, the rules that fired, what was done. */
  function describe(r: Recorded): string {
    const parts = [r.reason];
    if (r.rules.length) parts.push(`rules: ${r.rules.join(", ")}`);
    if (r.actions.length) parts.push(r.actions.join("; "));
    return parts.join(" | ");
  }

  /** Records an outcome without a run (IGNORED, NOTRIGGER, FAILED). */
  async function recordNoRun(
    ev: PipelineEvent,
    stackId: string,
    r: Recorded,
    afterStack?: (tx: Database) => Promise<void>,
    inTx?: (tx: Database) => Promise<void>,
  ): Promise<StackOutcome> {
    const reason = describe(r);
    await db.transaction().execute(async (tx) => {
      await events.recordOutcome(tx, {
        eventId: ev.eventId,
        stackId,
        outcome: r.outcome,
        runId: null,
        reason,
        rules: r.rules,
        actions: r.actions,
        now: clock(),
      });
      await inTx?.(tx);
      await afterStack?.(tx);
    });
    return { stackId, outcome: r.outcome, runId: null, reason };
  }

  async function recordIgnored(
    ev: PipelineEvent,
    stackId: string,
    reason: string,
    afterStack?: (tx: Database) => Promise<void>,
    context: { rules: readonly string[]; actions: string[] } = {
      rules: [],
      actions: [],
    },
  ): Promise<StackOutcome> {
    return recordNoRun(
      ev,
      stackId,
      { outcome: "IGNORED", reason, ...context },
      afterStack,
    );
  }

  async function startRun(
    ev: PipelineEvent,
    stack: VcsStack,
    runType: "TRACKED" | "PROPOSED",
    reason: string,
    afterStack?: (tx: Database) => Promise<void>,
    policy: {
      rules: readonly string[];
      actions: string[];
      lockId: string | null;
      flags: readonly string[];
      prioritize: boolean;
    } = { rules: [], actions: [], lockId: null, flags: [], prioritize: false },
  ): Promise<StackOutcome> {
    const e = ev.event;
    const sha = shaOf(ev);
    const actions = [...policy.actions];
    if (policy.flags.length > 0 && deps.recordRunFlags)
      actions.push(`flags set on the run: ${policy.flags.join(", ")}`);
    if (policy.prioritize) actions.push("run prioritized");
    const described = describe({
      outcome: runType,
      reason,
      rules: policy.rules,
      actions,
    });
    try {
      const run = await runs.createRun(
        {
          stackId: stack.id,
          runType,
          commitSha: sha,
          commit:
            e.kind === "push"
              ? { message: e.message, author: e.author, at: e.createdAt }
              : { message: e.title, author: e.author, at: null },
          branch: e.kind === "push" ? (e.branch ?? stack.branch) : e.headBranch,
          triggeredBy: actorOf(ev),
          note: `Triggered by ${ev.source === "POLL" ? "a new commit found by polling" : `a ${e.kind === "push" ? "push" : "pull request"} webhook`}: ${reason}`,
          lockId: policy.lockId,
          prioritized: policy.prioritize,
        },
        async (tx, runId) => {
          await events.insertRunLink(tx, {
            runId,
            stackId: stack.id,
            commitSha: sha,
            runType,
            integrationId: ev.integration?.id ?? null,
            repository: e.repository,
            prNumber: e.kind === "pull_request" ? e.number : null,
            prLabels: e.kind === "pull_request" ? e.labels : [],
            eventId: ev.eventId,
          });
          await events.recordOutcome(tx, {
            eventId: ev.eventId,
            stackId: stack.id,
            outcome: runType,
            runId,
            reason: described,
            rules: policy.rules,
            actions,
            now: clock(),
          });
          if (policy.flags.length > 0) {
            if (deps.recordRunFlags)
              await deps.recordRunFlags(tx, runId, policy.flags);
            else
              log.warn(
                { runId, flags: policy.flags },
                "push policy flags dropped: no flag storage is wired",
              );
          }
          // The first status (pending); later ones come from the run_transitions trigger.
          if (ev.integration && ev.integration.provider !== "RAW_GIT")
            await enqueue(
              tx,
              "vcs.reportStatus",
              { runId, stateVersion: 1, state: "QUEUED" },
              { queue: `vcs.feedback:${runId}` },
            );
          await afterStack?.(tx);
        },
      );
      return {
        stackId: stack.id,
        outcome: runType,
        runId: run.id,
        reason: described,
      };
    } catch (err) {
      const pg = err as { code?: string; constraint?: string };
      if (pg.code === "23505" && pg.constraint === DEDUP_CONSTRAINT) {
        const existing = await events.findRunLinkByCommit(db, {
          stackId: stack.id,
          commitSha: sha,
          runType,
        });
        return recordIgnored(
          ev,
          stack.id,
          `duplicate: ${runType} run ${existing?.runId ?? "(unknown)"} already exists for commit ${sha.slice(0, 12)}`,
          afterStack,
          policy,
        );
      }
      if (isAppError(err))
        return recordIgnored(
          ev,
          stack.id,
          `no run: ${err.message}`,
          afterStack,
          policy,
        );
      throw err;
    }
  }

  /** Stops this PR's proposed runs on older commits; a failure is logged, never fatal. */
  async function stopSuperseded(ev: PipelineEvent, stack: VcsStack) {
    const e = ev.event;
    if (e.kind !== "pull_request") return;
    const superseded = await events.findSupersededPrRuns(db, {
      stackId: stack.id,
      integrationId: ev.integration?.id ?? null,
      repository: e.repository,
      prNumber: e.number,
      headSha: e.headSha,
    });
    for (const runId of superseded) {
      try {
        await runs.stopRun(
          { stackId: stack.id, runId },
          `Superseded by commit ${e.headSha.slice(0, 12)} of pull request #${e.number}`,
        );
      } catch (err) {
        log.warn(
          { err, runId, stackId: stack.id },
          "could not stop a superseded proposed run",
        );
      }
    }
  }

  const why = (err: unknown) =>
    isAppError(err) || err instanceof Error ? err.message : String(err);

  /**
   * `unlock`, `lock` and `cancel`, before any run is created; each result is one line in
   * `actions`. Returns the lock id the stack is now held by for this event, if any.
   */
  async function applySideRules(
    ev: PipelineEvent,
    stack: VcsStack,
    rules: PushRules,
    actions: string[],
  ): Promise<string | null> {
    const sha = shaOf(ev).slice(0, 12);
    let heldBy: string | null = null;
    // Spacelift creates a module version from it; Stackyard has no module registry yet,
    // so the event says plainly that the rule was seen and not applied.
    if (rules.moduleVersion)
      actions.push(
        `module_version ${rules.moduleVersion} not applied: Stackyard has no module registry, so no module version was created`,
      );
    if (rules.unlock || rules.lock) {
      if (!deps.stacks) {
        actions.push(
          "lock/unlock not applied: the stack lock is not reachable from this process",
        );
      } else {
        if (rules.unlock) {
          try {
            actions.push(
              (await deps.stacks.unlock(stack.id, rules.unlock))
                ? `unlocked (lock id ${rules.unlock})`
                : `not unlocked: the stack is not locked by ${rules.unlock}`,
            );
          } catch (err) {
            actions.push(`not unlocked: ${why(err)}`);
          }
        }
        if (rules.lock) {
          try {
            const r = await deps.stacks.lock(
              stack.id,
              rules.lock,
              `Locked by a push policy on commit ${sha}`,
            );
            if (r.locked) heldBy = rules.lock;
            actions.push(
              r.locked
                ? `locked (lock id ${rules.lock})`
                : `not locked: the stack is locked by ${r.lockedBy ?? "someone else"}`,
            );
          } catch (err) {
            actions.push(`not locked: ${why(err)}`);
          }
        }
      }
    }
    for (const runId of rules.cancel) {
      try {
        await runs.cancelRun(
          { stackId: stack.id, runId },
          `the push policy decision for commit ${sha}`,
        );
        actions.push(`canceled run ${runId}`);
      } catch (err) {
        actions.push(`run ${runId} not canceled: ${why(err)}`);
      }
    }
    return heldBy;
  }

  async function decideAndAct(
    ev: PipelineEvent,
    stack: VcsStack,
    afterStack?: (tx: Database) => Promise<void>,
  ): Promise<StackOutcome> {
    const input = policyInputOf(
      ev,
      stack,
      await listRunsInProgress(db, stack.id),
    );
    const decision = await decide(input);
    const rules = decision.rules;
    if (!rules) {
      if (decision.action === "ignore")
        return recordIgnored(ev, stack.id, decision.reason, afterStack);
      return startRun(
        ev,
        stack,
        decision.action === "track" ? "TRACKED" : "PROPOSED",
        decision.reason,
        afterStack,
      );
    }

    const actions: string[] = [];
    const lockId = await applySideRules(ev, stack, rules, actions);
    const fired = rules.fired;

    if (rules.fail) {
      const message = rules.message || "Failed by a push policy";
      const failure: PushFailureJob | null =
        ev.integration && ev.integration.provider !== "RAW_GIT"
          ? {
              integrationId: ev.integration.id,
              repository: ev.event.repository,
              sha: shaOf(ev),
              stackId: stack.id,
              description: message,
            }
          : null;
      if (failure) actions.push("failure commit status queued for the stack");
      return recordNoRun(
        ev,
        stack.id,
        {
          outcome: "FAILED",
          reason: `no run: push policy fail: ${message} (${decision.reason})`,
          rules: fired,
          actions,
        },
        afterStack,
        failure
          ? (tx) =>
              enqueue(tx, PUSH_FAILURE_JOB, failure, {
                queue: `vcs.push-failure:${stack.id}`,
              }).then(() => undefined)
          : undefined,
      );
    }

    if (decision.action === "ignore")
      return recordIgnored(ev, stack.id, decision.reason, afterStack, {
        rules: fired,
        actions,
      });

    const runType = decision.action === "track" ? "TRACKED" : "PROPOSED";
    if (rules.notrigger) {
      if (runType === "TRACKED") {
        const sha = shaOf(ev);
        if (!deps.stacks)
          actions.push(
            "tracked commit not moved: the stacks module is not reachable from this process",
          );
        else
          try {
            await deps.stacks.setTrackedCommit(stack.id, sha, actorOf(ev));
            actions.push(`tracked commit moved to ${sha.slice(0, 12)}`);
          } catch (err) {
            actions.push(`tracked commit not moved: ${why(err)}`);
          }
      }
      return recordNoRun(
        ev,
        stack.id,
        {
          outcome: "NOTRIGGER",
          reason: `no ${runType.toLowerCase()} run: push policy notrigger (${decision.reason})`,
          rules: fired,
          actions,
        },
        afterStack,
      );
    }

    return startRun(ev, stack, runType, decision.reason, afterStack, {
      rules: fired,
      actions,
      lockId,
      flags: rules.flags,
      prioritize: rules.prioritize,
    });
  }

  return {
    newEventId: () => `vev_${ulid().toLowerCase()}`,

    /** Records the event row (idempotent on its id). */
    async recordEvent(ev: PipelineEvent, note: string | null): Promise<void> {
      const e = ev.event;
      await events.insertEvent(db, {
        id: ev.eventId,
        integrationId: ev.integration?.id ?? null,
        source: ev.source,
        deliveryId: ev.deliveryId,
        kind: e.kind,
        repository: e.repository,
        branch: e.kind === "push" ? e.branch : e.headBranch,
        tag: e.kind === "push" ? e.tag : null,
        sha: e.kind === "push" ? e.sha : e.headSha,
        prNumber: e.kind === "pull_request" ? e.number : null,
        note,
        now: clock(),
      });
    },

    /** Decides and acts for one stack; returns the recorded outcome. */
    async applyToStack(
      ev: PipelineEvent,
      stack: VcsStack,
      afterStack?: (tx: Database) => Promise<void>,
    ): Promise<StackOutcome | null> {
      if (await hasOutcome(ev.eventId, stack.id)) return null;
      const outcome = await decideAndAct(ev, stack, afterStack);
      if (outcome.outcome === "PROPOSED") await stopSuperseded(ev, stack);
      log.info(
        {
          eventId: ev.eventId,
          stackId: stack.id,
          outcome: outcome.outcome,
          runId: outcome.runId,
        },
        `VCS event: ${outcome.reason}`,
      );
      return outcome;
    },
  };
}

export type PushPipeline = ReturnType<typeof createPushPipeline>;
