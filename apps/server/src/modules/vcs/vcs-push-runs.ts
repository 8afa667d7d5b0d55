import type { Database } from "../../platform/db/index.ts";
import { isAppError } from "../../platform/errors.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { enqueue } from "../../platform/queue/index.ts";
import type { PushRules } from "./push-decision.ts";
import * as events from "./vcs-event-repo.ts";
import type { VcsStack } from "./vcs-stack-query.ts";
import { actorOf, shaOf, type PushOutcomes } from "./vcs-push-outcomes.ts";
import type {
  PipelineEvent,
  PushPipelineDeps,
  StackOutcome,
} from "./vcs-push-ports.ts";

const DEDUP_CONSTRAINT = "vcs_run_links_stack_id_commit_sha_run_type_key";

/**
 * What the pipeline does to runs and the stack for one decision: start the run (with its
 * link, outcome, flags and first commit status in the run's insert transaction), stop a
 * pull request's superseded proposed runs, and apply the side rules (`unlock`, `lock`,
 * `cancel`).
 */
export function createPushRunActions(
  deps: PushPipelineDeps,
  log: Logger,
  outcomes: Pick<PushOutcomes, "describe" | "recordIgnored">,
) {
  const { db, runs, clock } = deps;
  const { describe, recordIgnored } = outcomes;

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

  return { startRun, stopSuperseded, applySideRules, why };
}
