import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { enqueue, PermanentJobError } from "../../platform/queue/index.ts";
import {
  isRetryableProviderError,
  type CommitStatus,
  type VcsProviderAdapters,
} from "./provider.ts";
import { isFailure, isTerminal } from "../run-status/index.ts";
import * as events from "./vcs-event-repo.ts";
import type { VcsIntegrationRecord } from "./vcs-integration.ts";
import { findRunForFeedback, findStack } from "./vcs-stack-query.ts";

/** A pull request carrying this label gets no plan comments. */
export const NO_COMMENT_LABEL = "stackyard:no-comment";

/**
 * The commit status a run state maps to: pending while it waits or works, success once
 * FINISHED or when its plan awaits confirmation (UNCONFIRMED), failure when it FAILED or
 * was STOPPED, DISCARDED or CANCELED. null: nothing to report (SKIPPED).
 */
export function statusOfState(
  state: string,
): { state: CommitStatus["state"]; description: string } | null {
  if (state === "FINISHED")
    return { state: "success", description: "Finished" };
  if (state === "UNCONFIRMED")
    return {
      state: "success",
      description: "Planned; awaiting confirmation",
    };
  if (isFailure(state))
    return {
      state: "failure",
      description: state.toLowerCase().replace(/^./, (c) => c.toUpperCase()),
    };
  if (state === "SKIPPED") return null;
  const words = state.toLowerCase().replace(/_/g, " ");
  return {
    state: "pending",
    description: words.charAt(0).toUpperCase() + words.slice(1),
  };
}

/** Combines the statuses of several runs: any failure fails, else any pending is pending. */
export function aggregateStatus(
  states: readonly string[],
): CommitStatus["state"] | null {
  const mapped = states
    .map((s) => statusOfState(s)?.state)
    .filter((s): s is CommitStatus["state"] => s !== undefined);
  if (mapped.length === 0) return null;
  if (mapped.includes("failure")) return "failure";
  if (mapped.includes("pending")) return "pending";
  return "success";
}

export function commentMarker(stackId: string): string {
  return `<!-- stackyard:plan:${stackId} -->`;
}

interface Delta {
  addCount?: number;
  changeCount?: number;
  deleteCount?: number;
  changes?: { address?: string; actions?: string[] }[];
}

const MAX_LISTED_RESOURCES = 50;

/** The PR comment: run outcome, delta counts and the changed resources (never values). */
export function planCommentBody(p: {
  marker: string;
  stackId: string;
  stackName: string;
  runId: string;
  state: string;
  sha: string;
  delta: unknown;
  failureReason: string | null;
  runUrl: string;
}): string {
  const d = (p.delta && typeof p.delta === "object" ? p.delta : {}) as Delta;
  const lines = [
    p.marker,
    `### Stackyard: stack \`${p.stackName}\``,
    "",
    `Proposed run [${p.runId}](${p.runUrl}) on \`${p.sha.slice(0, 12)}\`: **${p.state}**`,
  ];
  if (p.state === "FINISHED" || d.changes) {
    const add = d.addCount ?? 0;
    const change = d.changeCount ?? 0;
    const del = d.deleteCount ?? 0;
    lines.push(
      "",
      add + change + del === 0
        ? "No changes."
        : `Plan: ${add} to add, ${change} to change, ${del} to destroy.`,
    );
    const changes = (d.changes ?? []).filter((c) => c.address);
    if (changes.length > 0) {
      lines.push("", "| Resource | Actions |", "| --- | --- |");
      for (const c of changes.slice(0, MAX_LISTED_RESOURCES))
        lines.push(
          `| \`${String(c.address).replace(/\|/g, "\\|")}\` | ${(c.actions ?? []).join(", ")} |`,
        );
      if (changes.length > MAX_LISTED_RESOURCES)
        lines.push(
          "",
          `…and ${changes.length - MAX_LISTED_RESOURCES} more resources.`,
        );
    }
  } else if (p.failureReason) {
    lines.push("", `Reason: ${p.failureReason}`);
  }
  lines.push(
    "",
    `<sub>Add the label \`${NO_COMMENT_LABEL}\` to the pull request to turn these comments off.</sub>`,
  );
  return lines.join("\n");
}

export interface FeedbackJob {
  runId: string;
  stateVersion: number;
  state: string;
}

/**
 * `vcs.reportStatus` and `vcs.commentPullRequest`: what a VCS-triggered run tells the
 * provider. Status jobs come from the `run_transitions` trigger (migration 0009) in a
 * FIFO group per run, so they are sent in order; a status equal to the last one sent is
 * skipped. A comment is enqueued when a pull request's proposed run ends, unless the PR
 * has the opt-out label. Retryable adapter errors throw as they are, so the queue
 * retries (3 receives, then the dead letters); a non-retryable one (`retryable: false`:
 * a refused credential, a repository the integration cannot see, unusable settings)
 * becomes a PermanentJobError and is dead-lettered at once. Nothing here touches the run.
 */
export function createVcsFeedback(deps: {
  db: Database;
  integrations: {
    loadById(id: string): Promise<VcsIntegrationRecord | null>;
  };
  adapters: VcsProviderAdapters;
  /** The web UI base, for status and comment links. */
  publicUrl: string;
  log: Logger;
}) {
  const { db } = deps;
  const log = deps.log.child({ module: "vcs", component: "feedback" });
  const runUrl = (stackId: string, runId: string) =>
    `${deps.publicUrl.replace(/\/+$/, "")}/stack/${encodeURIComponent(stackId)}/run/${encodeURIComponent(runId)}`;

  /** One adapter call; a failure that cannot heal by retrying fails the job for good. */
  async function callProvider(
    what: string,
    runId: string,
    integration: VcsIntegrationRecord,
    call: () => Promise<void>,
  ): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (isRetryableProviderError(err)) throw err;
      // Adapter messages never carry a token; only the message is logged.
      const reason = err instanceof Error ? err.message : String(err);
      log.error(
        {
          runId,
          integrationId: integration.id,
          integration: integration.name,
          provider: integration.provider,
          reason,
        },
        `${what} failed and retrying cannot help; the job is dead-lettered`,
      );
      throw new PermanentJobError(
        `${what} through ${integration.provider} integration ${integration.name}: ${reason}`,
        { cause: err },
      );
    }
  }

  async function target(runId: string) {
    const link = await events.findRunLink(db, runId);
    if (!link?.integrationId) return null;
    const integration = await deps.integrations.loadById(link.integrationId);
    if (!integration || integration.provider === "RAW_GIT") return null;
    const adapter = deps.adapters[integration.provider];
    if (!adapter) {
      log.warn(
        { runId, provider: integration.provider },
        "no provider adapter; VCS feedback skipped",
      );
      return null;
    }
    return { link, integration, adapter };
  }

  return {
    async reportStatus(job: FeedbackJob): Promise<void> {
      const t = await target(job.runId);
      if (!t) return;
      const { link, integration, adapter } = t;
      const run = await findRunForFeedback(db, job.runId);
      if (!run) return;
      // The run's current state: a late job never reports an older state.
      const current = statusOfState(run.state);
      if (!current) return;

      if (
        link.prNumber !== null &&
        link.runType === "PROPOSED" &&
        isTerminal(run.state) &&
        !link.prLabels.includes(NO_COMMENT_LABEL)
      )
        await enqueue(
          db,
          "vcs.commentPullRequest",
          { runId: run.id, stateVersion: job.stateVersion, state: run.state },
          {
            queue: `vcs.comment:${link.stackId}:${link.prNumber}`,
            jobKey: `vcs.comment:${run.id}`,
          },
        );

      let status: CommitStatus;
      if (integration.checks === "AGGREGATED") {
        const runs = await events.listCommitRunStates(db, {
          integrationId: integration.id,
          repository: link.repository,
          commitSha: link.commitSha,
          runType: link.runType,
        });
        const state = aggregateStatus(runs.map((r) => r.state));
        if (!state) return;
        const done = runs.filter((r) => isTerminal(r.state)).length;
        status = {
          context: `stackyard/${link.runType.toLowerCase()}`,
          state,
          description: `${done} of ${runs.length} stack run(s) done`,
          targetUrl: runUrl(run.stackId, run.id),
        };
      } else {
        status = {
          context: `stackyard/${link.stackId}`,
          state: current.state,
          description: `${link.runType === "PROPOSED" ? "Proposed" : "Tracked"} run: ${current.description}`,
          targetUrl: runUrl(run.stackId, run.id),
        };
      }
      const key = `${status.context}:${status.state}:${status.description}`;
      if (link.reportedStatus === key) return;
      await callProvider("setting the commit status", run.id, integration, () =>
        adapter.setCommitStatus(
          integration,
          link.repository,
          link.commitSha,
          status,
        ),
      );
      await events.setReportedStatus(db, run.id, key);
    },

    async commentPullRequest(job: FeedbackJob): Promise<void> {
      const t = await target(job.runId);
      if (!t) return;
      const { link, integration, adapter } = t;
      if (link.prNumber === null || link.prLabels.includes(NO_COMMENT_LABEL))
        return;
      const run = await findRunForFeedback(db, job.runId);
      if (!run) return;
      // One comment per stack and PR, about its newest run: a superseded run says nothing.
      const latest = await events.findLatestPrRun(db, {
        stackId: link.stackId,
        repository: link.repository,
        prNumber: link.prNumber,
      });
      if (latest !== run.id) return;
      const stack = await findStack(db, run.stackId);
      const marker = commentMarker(run.stackId);
      const prNumber = link.prNumber;
      await callProvider(
        "commenting on the pull request",
        run.id,
        integration,
        () =>
          adapter.upsertPullRequestComment(
            integration,
            link.repository,
            prNumber,
            marker,
            planCommentBody({
              marker,
              stackId: run.stackId,
              stackName: stack?.name ?? run.stackId,
              runId: run.id,
              state: run.state,
              sha: link.commitSha,
              delta: run.delta,
              failureReason: run.failureReason,
              runUrl: runUrl(run.stackId, run.id),
            }),
          ),
      );
    },
  };
}

export type VcsFeedback = ReturnType<typeof createVcsFeedback>;
