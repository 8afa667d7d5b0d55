import type { Database } from "../../platform/db/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import type { ParsedWebhook, VcsProviderAdapters } from "./provider.ts";
import { VcsInputError } from "./vcs-errors.ts";
import * as events from "./vcs-event-repo.ts";
import type { GitRunner } from "./vcs-git.ts";
import type { VcsIntegrationRecord } from "./vcs-integration.ts";
import type { PipelineEvent, PushPipeline } from "./vcs-push-pipeline.ts";
import { findStacksOfRepository } from "./vcs-stack-query.ts";
import type { WebhookJob } from "./vcs-webhook-route.ts";

export interface WebhookHandlerDeps {
  db: Database;
  integrations: {
    loadById(id: string): Promise<VcsIntegrationRecord | null>;
  };
  adapters: VcsProviderAdapters;
  pipeline: PushPipeline;
  git: GitRunner;
  log: Logger;
  clock: () => Date;
}

/**
 * `vcs.handleWebhook`: turns a verified delivery into outcomes. The adapter parses the
 * payload (a malformed one is recorded as an ignored event, not retried); a push whose
 * changed files the provider did not list gets them from `git diff` in the cached
 * mirror (or counts as affecting every stack when git cannot tell); then every stack on
 * the repository gets its decision. Idempotent: the event id travels in the job, and
 * the pipeline skips stacks that already have an outcome for it.
 */
export function createWebhookHandler(deps: WebhookHandlerDeps) {
  const { db, pipeline } = deps;
  const log = deps.log.child({ module: "vcs", component: "webhook-handler" });

  async function ignoredEvent(
    job: WebhookJob,
    integration: VcsIntegrationRecord | null,
    reason: string,
  ): Promise<void> {
    await events.insertEvent(db, {
      id: job.eventId,
      integrationId: integration?.id ?? null,
      source: "WEBHOOK",
      deliveryId: job.deliveryId,
      kind: "ignored",
      repository: "",
      branch: null,
      tag: null,
      sha: null,
      prNumber: null,
      note: reason,
      now: deps.clock(),
    });
  }

  async function withAffectedFiles(
    integration: VcsIntegrationRecord,
    parsed: Extract<ParsedWebhook, { kind: "push" }>,
  ): Promise<typeof parsed> {
    if (parsed.affectedFiles !== null || !parsed.branch) return parsed;
    const adapter =
      integration.provider === "RAW_GIT"
        ? undefined
        : deps.adapters[integration.provider];
    if (!adapter) return parsed;
    try {
      const url = await adapter.cloneUrl(integration, parsed.repository);
      const { files } = await deps.git.inspectPush(
        url,
        parsed.branch,
        parsed.beforeSha,
        parsed.sha,
      );
      return { ...parsed, affectedFiles: files };
    } catch (err) {
      // Unknown files count as affecting every stack: a run too many, never one too few.
      log.warn(
        { err, repository: parsed.repository, sha: parsed.sha },
        "could not compute the files a push changed; treating every stack as affected",
      );
      return parsed;
    }
  }

  return async function handleWebhook(job: WebhookJob): Promise<void> {
    const integration = await deps.integrations.loadById(job.integrationId);
    if (!integration) {
      log.info(
        { integrationId: job.integrationId },
        "dropping a webhook of a deleted integration",
      );
      return;
    }
    const adapter =
      integration.provider === "RAW_GIT"
        ? undefined
        : deps.adapters[integration.provider];
    if (!adapter)
      return ignoredEvent(
        job,
        integration,
        `no ${integration.provider} provider adapter on this server`,
      );
    let parsed: ParsedWebhook;
    try {
      parsed = adapter.parseWebhook(integration, job.eventName, job.payload);
    } catch (err) {
      if (err instanceof VcsInputError)
        return ignoredEvent(
          job,
          integration,
          `malformed ${job.eventName} payload: ${err.message}`,
        );
      throw err;
    }
    if (parsed.kind === "ignored")
      return ignoredEvent(job, integration, parsed.reason);

    if (
      parsed.kind === "pull_request" &&
      (parsed.action === "labeled" || parsed.action === "unlabeled")
    )
      await events.setPrLabels(db, {
        integrationId: integration.id,
        repository: parsed.repository,
        prNumber: parsed.number,
        labels: parsed.labels,
      });

    const stacks = await findStacksOfRepository(db, {
      provider: integration.provider as "GITHUB" | "GITLAB",
      integrationId: integration.id,
      isDefault: integration.isDefault,
      repository: parsed.repository,
    });
    const event =
      parsed.kind === "push" && stacks.length > 0
        ? await withAffectedFiles(integration, parsed)
        : parsed;
    const ev: PipelineEvent = {
      eventId: job.eventId,
      source: "WEBHOOK",
      deliveryId: job.deliveryId,
      integration,
      event,
    };
    await pipeline.recordEvent(
      ev,
      stacks.length === 0
        ? `no stack on integration ${integration.name} uses repository ${parsed.repository}`
        : null,
    );
    for (const stack of stacks) await pipeline.applyToStack(ev, stack);
  };
}
