import { z } from "zod";
import type { Logger } from "../../platform/log/logger.ts";
import { PermanentJobError } from "../../platform/queue/index.ts";
import {
  isRetryableProviderError,
  type VcsProviderAdapters,
} from "./provider.ts";
import type { VcsIntegrationRecord } from "./vcs-integration.ts";

/** The job that sets a stack's commit status to failure when a push policy `fail`s. */
export const PUSH_FAILURE_JOB = "vcs.reportPushFailure";

export const pushFailureJobSchema = z.object({
  integrationId: z.string().min(1),
  repository: z.string().min(1),
  sha: z.string().min(1),
  stackId: z.string().min(1),
  /** The push policy's `message` (or a default); the adapter cuts it to its limit. */
  description: z.string(),
});

export type PushFailureJob = z.infer<typeof pushFailureJobSchema>;

/**
 * `vcs.reportPushFailure`: a push policy's `fail` refused a run, so the stack's commit
 * status (context `stackyard/<stack-id>`, also with AGGREGATED checks: the failure is
 * about one stack and no run exists to aggregate) becomes failure with the policy's
 * message, linking to the stack. Enqueued in the transaction that records the FAILED
 * outcome, in a FIFO group per stack. Retryable adapter errors throw (the queue retries,
 * 3 receives); a non-retryable one is dead-lettered at once with an error log line
 * naming the integration (never a token). A deleted integration or one without an
 * adapter is a no-op.
 */
export function createPushFailureReporter(deps: {
  integrations: { loadById(id: string): Promise<VcsIntegrationRecord | null> };
  adapters: VcsProviderAdapters;
  publicUrl: string;
  log: Logger;
}) {
  const log = deps.log.child({ module: "vcs", component: "push-feedback" });
  return async (job: PushFailureJob): Promise<void> => {
    const integration = await deps.integrations.loadById(job.integrationId);
    if (!integration || integration.provider === "RAW_GIT") return;
    const adapter = deps.adapters[integration.provider];
    if (!adapter) {
      log.warn(
        { stackId: job.stackId, provider: integration.provider },
        "no provider adapter; push policy failure status skipped",
      );
      return;
    }
    try {
      await adapter.setCommitStatus(integration, job.repository, job.sha, {
        context: `stackyard/${job.stackId}`,
        state: "failure",
        description: job.description,
        targetUrl: `${deps.publicUrl.replace(/\/+$/, "")}/stack/${encodeURIComponent(job.stackId)}`,
      });
    } catch (err) {
      if (isRetryableProviderError(err)) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      log.error(
        {
          stackId: job.stackId,
          integrationId: integration.id,
          integration: integration.name,
          provider: integration.provider,
          reason,
        },
        "setting the push policy failure status failed and retrying cannot help; the job is dead-lettered",
      );
      throw new PermanentJobError(
        `setting the commit status through ${integration.provider} integration ${integration.name}: ${reason}`,
        { cause: err },
      );
    }
  };
}
