import { monotonicFactory } from "ulid";
import type { Database } from "../../platform/db/index.ts";
import { isAppError } from "../../platform/errors.ts";
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
} from "./push-decision.ts";
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
    },
    inTx: (tx: Database, runId: string) => Promise<void>,
  ): Promise<{ id: string }>;
  /** Cancels a run that has not started, or stops one that has; a run past both is left alone. */
  stopRun(ref: { stackId: string; runId: string }, note: string): Promise<void>;
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

function nanos(d: Date | null): number {
  return d ? d.getTime() * 1_000_000 : 0;
}

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
}

/**
 * Applies one normalized event to the stacks it concerns: builds the push input per
 * stack, asks the decider, and creates TRACKED/PROPOSED runs. Every stack gets exactly
 * one recorded outcome per event (a run, or ignored with the reason).
 *
 * Idempotency (the drain delivers at least once): a run, its `vcs_run_links` row and its
 * outcome commit in one transaction; a stack that already has an outcome for the event
 * is skipped, and the unique (stack, commit, run type) key of the links turns a second
 * run for the same commit into an "ignored: duplicate" outcome. `afterStack` runs in the
 * transaction that records the stack's outcome (the poller advances its cursor there).
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

  async function recordIgnored(
    ev: PipelineEvent,
    stackId: string,
    reason: string,
    afterStack?: (tx: Database) => Promise<void>,
  ): Promise<StackOutcome> {
    await db.transaction().execute(async (tx) => {
      await events.recordOutcome(tx, {
        eventId: ev.eventId,
        stackId,
        outcome: "IGNORED",
        runId: null,
        reason,
        now: clock(),
      });
      await afterStack?.(tx);
    });
    return { stackId, outcome: "IGNORED", runId: null, reason };
  }

  async function startRun(
    ev: PipelineEvent,
    stack: VcsStack,
    runType: "TRACKED" | "PROPOSED",
    reason: string,
    afterStack?: (tx: Database) => Promise<void>,
  ): Promise<StackOutcome> {
    const e = ev.event;
    const sha = e.kind === "push" ? e.sha : e.headSha;
    const provider = (ev.integration?.provider ?? "RAW_GIT").toLowerCase();
    const triggeredBy = `vcs/${provider === "raw_git" ? "git" : provider}/${e.author || "unknown"}`;
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
          triggeredBy,
          note: `Triggered by ${ev.source === "POLL" ? "a new commit found by polling" : `a ${e.kind === "push" ? "push" : "pull request"} webhook`}: ${reason}`,
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
            reason,
            now: clock(),
          });
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
      return { stackId: stack.id, outcome: runType, runId: run.id, reason };
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
        );
      }
      if (isAppError(err))
        return recordIgnored(
          ev,
          stack.id,
          `no run: ${err.message}`,
          afterStack,
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
      const input = policyInputOf(
        ev,
        stack,
        await listRunsInProgress(db, stack.id),
      );
      const decision = await decide(input);
      let outcome: StackOutcome;
      if (decision.action === "track")
        outcome = await startRun(
          ev,
          stack,
          "TRACKED",
          decision.reason,
          afterStack,
        );
      else if (decision.action === "propose")
        outcome = await startRun(
          ev,
          stack,
          "PROPOSED",
          decision.reason,
          afterStack,
        );
      else
        outcome = await recordIgnored(
          ev,
          stack.id,
          decision.reason,
          afterStack,
        );
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
