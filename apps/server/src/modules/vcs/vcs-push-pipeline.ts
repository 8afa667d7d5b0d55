import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { enqueue } from "../../platform/queue/index.ts";
import { defaultPushDecider } from "./push-decision.ts";
import { PUSH_FAILURE_JOB, type PushFailureJob } from "./vcs-push-feedback.ts";
import * as events from "./vcs-event-repo.ts";
import { listRunsInProgress, type VcsStack } from "./vcs-stack-query.ts";
import { policyInputOf } from "./vcs-push-input.ts";
import { actorOf, createPushOutcomes, shaOf } from "./vcs-push-outcomes.ts";
import type {
  PipelineEvent,
  PushPipelineDeps,
  StackOutcome,
} from "./vcs-push-ports.ts";
import { createPushRunActions } from "./vcs-push-runs.ts";

export type {
  PipelineEvent,
  PushPipelineDeps,
  StackOutcome,
  VcsRunsPort,
  VcsStacksPort,
} from "./vcs-push-ports.ts";
export { policyInputOf } from "./vcs-push-input.ts";

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
 *
 * Parts: the policy input (vcs-push-input.ts), the recorded outcomes
 * (vcs-push-outcomes.ts) and the actions on runs and the stack (vcs-push-runs.ts); this
 * file decides per stack and orders them.
 */
export function createPushPipeline(deps: PushPipelineDeps) {
  const { db, clock } = deps;
  const log = deps.log.child({ module: "vcs", component: "push" });
  const decide = deps.pushDecider ?? defaultPushDecider;
  const ulid = monotonicFactory();

  const outcomes = createPushOutcomes(deps);
  const { hasOutcome, recordNoRun, recordIgnored } = outcomes;
  const { startRun, stopSuperseded, applySideRules, why } =
    createPushRunActions(deps, log, outcomes);

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
