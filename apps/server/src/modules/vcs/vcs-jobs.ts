import { z } from "zod";
import type { Database } from "../../platform/db/index.ts";
import { defineJob, type JobCatalog } from "../../platform/queue/index.ts";
import type { ScheduleEntry } from "../../platform/schedule/scheduler.ts";
import { deleteEventsBefore } from "./vcs-event-repo.ts";
import type { VcsFeedback } from "./vcs-feedback.ts";
import type { VcsPoller } from "./vcs-poller.ts";
import {
  PUSH_FAILURE_JOB,
  pushFailureJobSchema,
  type PushFailureJob,
} from "./vcs-push-feedback.ts";
import type { WebhookJob } from "./vcs-webhook-route.ts";

/** VCS events, their outcomes and webhook deliveries are kept this long. */
export const EVENT_RETENTION_DAYS = 7;

const webhookJobSchema = z.object({
  integrationId: z.string().min(1),
  deliveryId: z.string().min(1),
  eventName: z.string(),
  eventId: z.string().min(1),
  payload: z.unknown(),
}) as z.ZodType<WebhookJob>;

const feedbackJobSchema = z.object({
  runId: z.string().min(1),
  stateVersion: z.number().int(),
  state: z.string(),
});

/**
 * The VCS job catalog:
 * - `vcs.handleWebhook`: a verified delivery → events, outcomes and runs;
 * - `vcs.poll`: raw git branches (enqueued by the scheduler every poll interval);
 * - `vcs.reportStatus`, `vcs.commentPullRequest`: feedback to the provider (retried, 3
 *   receives); `vcs.reportStatus` is enqueued by the run_transitions trigger of 0009;
 * - `vcs.reportPushFailure`: a push policy's `fail` as a failed commit status (3 receives);
 * - `vcs.collectEvents`: deletes events and deliveries older than 7 days.
 */
export function vcsJobs(deps: {
  db: Database;
  handleWebhook: (job: WebhookJob) => Promise<void>;
  poller: VcsPoller;
  feedback: VcsFeedback;
  reportPushFailure: (job: PushFailureJob) => Promise<void>;
  clock: () => Date;
}): JobCatalog {
  return {
    "vcs.handleWebhook": defineJob(webhookJobSchema, (job) =>
      deps.handleWebhook(job),
    ),
    "vcs.poll": defineJob(z.object({}).passthrough(), async (_p, ctx) => {
      const result = await deps.poller.poll();
      if (result.newCommits > 0 || result.failures > 0)
        ctx.log.info(result, "polled raw git branches");
    }),
    // Enqueued by a trigger on every transition of a VCS-linked run, in its transaction,
    // in the FIFO group `vcs.feedback:<runId>` (so the provider sees states in order).
    "vcs.reportStatus": defineJob(
      feedbackJobSchema,
      (job) => deps.feedback.reportStatus(job),
      {
        maxAttempts: 3,
        enqueuedBy: {
          trigger: "run_transitions_vcs_feedback",
          table: "run_transitions",
          migration: "0009_vcs.sql",
        },
      },
    ),
    "vcs.commentPullRequest": defineJob(
      feedbackJobSchema,
      (job) => deps.feedback.commentPullRequest(job),
      { maxAttempts: 3 },
    ),
    [PUSH_FAILURE_JOB]: defineJob(
      pushFailureJobSchema,
      (job) => deps.reportPushFailure(job),
      { maxAttempts: 3 },
    ),
    "vcs.collectEvents": defineJob(
      z.object({}).passthrough(),
      async (_p, ctx) => {
        const before = new Date(
          deps.clock().getTime() - EVENT_RETENTION_DAYS * 86_400_000,
        );
        const deleted = await deleteEventsBefore(deps.db, before);
        if (deleted.events + deleted.deliveries > 0)
          ctx.log.info(deleted, "deleted expired VCS events");
      },
    ),
  };
}

/**
 * The scheduler entries: `vcs.poll` every `pollIntervalSeconds` (a per-second cron that
 * enqueues on every multiple of the interval), and hourly housekeeping.
 */
export function vcsSchedule(pollIntervalSeconds: number): ScheduleEntry[] {
  return [
    {
      cron: "* * * * * *",
      job: "vcs.poll",
      everySeconds: pollIntervalSeconds,
    },
    { cron: "0 20 * * * *", job: "vcs.collectEvents" },
  ];
}
