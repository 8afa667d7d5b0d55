/**
 * VCS: integrations (GitHub App, GitLab, raw git) and what comes in from and goes back to
 * version control. Owns tables `vcs_integrations`, `vcs_deliveries`, `vcs_events`,
 * `vcs_event_outcomes`, `vcs_poll_cursors`, `vcs_run_links` and the `run_transitions`
 * trigger that enqueues feedback; the route `POST /webhooks/:integration`; jobs
 * `vcs.handleWebhook`, `vcs.poll`, `vcs.reportStatus`, `vcs.commentPullRequest`,
 * `vcs.collectEvents`; the bare git mirrors under `<dataDir>/vcs-mirrors`.
 * The push decision is a pure function (`decidePush`) behind the `PushDecider` hook.
 * Provider specifics live in adapters (`provider.ts` contract, `providers/`), injected
 * by kind. It does not create or stop runs itself: the runs module does, through the
 * `VcsRunsPort` the composition root wires; it reads stacks and runs only in
 * vcs-stack-query.ts. Other modules get narrow services from it through the composition
 * root: `cloneUrls` (where a run clones a GitHub/GitLab stack from, credentials
 * included) and `stackIntegrations` (the space of a `vcsIntegrationId`, null if absent).
 */
import path from "node:path";
import type { Database } from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import type { Logger } from "../../platform/log/logger.ts";
import { NotFoundError } from "../../platform/errors.ts";
import type { Session } from "../auth/index.ts";
import type { VcsProviderAdapters } from "./provider.ts";
import type { PushDecider } from "./push-decision.ts";
import { createCloneUrlResolver, type CloneUrlStack } from "./vcs-clone-url.ts";
import { VcsRepositoryUnavailableError } from "./vcs-errors.ts";
import { listStackEvents } from "./vcs-event-repo.ts";
import { createVcsFeedback } from "./vcs-feedback.ts";
import { createGitRunner, redactUrl, type GitRunner } from "./vcs-git.ts";
import {
  createVcsIntegrationService,
  type VcsSpaceAccess,
  type VcsIntegrationServiceDeps,
} from "./vcs-integration-service.ts";
import { vcsJobs } from "./vcs-jobs.ts";
import { createVcsPoller } from "./vcs-poller.ts";
import {
  createPushPipeline,
  type PushPipelineDeps,
  type VcsRunsPort,
  type VcsStacksPort,
} from "./vcs-push-pipeline.ts";
import { createPushFailureReporter } from "./vcs-push-feedback.ts";
import { findStack } from "./vcs-stack-query.ts";
import { createWebhookHandler } from "./vcs-webhook-handler.ts";

export * from "./provider.ts";
export {
  decidePush,
  defaultPushDecider,
  affectingRule,
  normalizeProjectRoot,
  type PushAction,
  type PushDecider,
  type PushDecision,
  type PushRules,
  type PushPolicyInput,
  type PushPolicyCommit,
  type PushPolicyPullRequest,
  type PushPolicyStack,
  type PushPolicyRun,
} from "./push-decision.ts";
export {
  VcsPayloadTooLargeError,
  VcsIntegrationNotFoundError,
  VcsIntegrationConflictError,
  VcsCloneUrlError,
} from "./vcs-errors.ts";
export {
  createCloneUrlResolver,
  repositoryPathOf,
  type CloneUrlResolver,
  type CloneUrlStack,
} from "./vcs-clone-url.ts";
export {
  integrationKindOfStackProvider,
  webhookUrlOf,
  type VcsChecksMode,
  type VcsIntegrationRecord,
  type VcsIntegrationView,
} from "./vcs-integration.ts";
export type {
  VcsIntegrationService,
  VcsSpaceAccess,
} from "./vcs-integration-service.ts";
export type {
  VcsRunsPort,
  VcsStacksPort,
  PushPipeline,
} from "./vcs-push-pipeline.ts";
export { PUSH_FAILURE_JOB, type PushFailureJob } from "./vcs-push-feedback.ts";
export {
  registerVcsWebhookRoute,
  parseWebhookBody,
  WEBHOOK_BODY_LIMIT_BYTES,
  type WebhookJob,
} from "./vcs-webhook-route.ts";
export { vcsResolvers } from "./vcs-resolvers.ts";
export { vcsSchedule, EVENT_RETENTION_DAYS } from "./vcs-jobs.ts";
export {
  statusOfState,
  aggregateStatus,
  commentMarker,
  planCommentBody,
  NO_COMMENT_LABEL,
} from "./vcs-feedback.ts";
export { createGitRunner, redactUrl, type GitRunner } from "./vcs-git.ts";

/** Builds the VCS module around its injected ports (composition root helper). */
export function createVcsModule(deps: {
  db: Database;
  encryptor: Pick<Encryptor, "encrypt" | "decrypt">;
  access: VcsSpaceAccess;
  runs: VcsRunsPort;
  adapters: VcsProviderAdapters;
  log: Logger;
  clock: () => Date;
  /** Server data directory: bare mirrors go to `<dataDir>/vcs-mirrors`. */
  dataDir: string;
  publicUrl: string;
  webhooksEndpoint: string;
  /** The platform egress guard: integration `apiUrl`s are checked against it. */
  egress: VcsIntegrationServiceDeps["egress"];
  /** Replaces `decidePush` (a push policy engine); the default behaviour otherwise. */
  pushDecider?: PushDecider;
  /** Stack lock and tracked commit for push policy rules (lock, unlock, notrigger). */
  stacks?: VcsStacksPort;
  /** Stores push policy flags on the created run (the policies module's flag storage). */
  recordRunFlags?: PushPipelineDeps["recordRunFlags"];
  git?: GitRunner;
}) {
  const { db, clock, log } = deps;
  const integrations = createVcsIntegrationService({
    db,
    encryptor: deps.encryptor,
    access: deps.access,
    clock,
    webhooksEndpoint: deps.webhooksEndpoint,
    egress: deps.egress,
  });
  const git =
    deps.git ??
    createGitRunner({
      mirrorsDir: path.join(deps.dataDir, "vcs-mirrors"),
      egress: deps.egress,
    });
  const pipeline = createPushPipeline({
    db,
    runs: deps.runs,
    log,
    clock,
    pushDecider: deps.pushDecider,
    stacks: deps.stacks,
    recordRunFlags: deps.recordRunFlags,
  });
  const handleWebhook = createWebhookHandler({
    db,
    integrations,
    adapters: deps.adapters,
    pipeline,
    git,
    log,
    clock,
  });
  const poller = createVcsPoller({ db, pipeline, git, log, clock });
  const feedback = createVcsFeedback({
    db,
    integrations,
    adapters: deps.adapters,
    publicUrl: deps.publicUrl,
    log,
  });
  /** `vcs.reportPushFailure`: a push policy's `fail` as the stack's failed commit status. */
  const reportPushFailure = createPushFailureReporter({
    integrations,
    adapters: deps.adapters,
    publicUrl: deps.publicUrl,
    log,
  });
  const events = {
    /** A stack's recent VCS events (READ on its space; hidden stacks are "not found"). */
    async listForStack(
      session: Session,
      stackId: string,
      limit?: number | null,
    ) {
      const stack = await findStack(db, stackId);
      const hidden = new NotFoundError(`stack ${stackId} not found`);
      if (!stack) throw hidden;
      await deps.access.assertCanRead(session, stack.spaceId, hidden);
      return listStackEvents(
        db,
        stackId,
        Math.min(Math.max(limit ?? 50, 1), 500),
      );
    },
  };
  const cloneUrls = createCloneUrlResolver({
    integrations,
    adapters: deps.adapters,
  });
  return {
    integrations,
    /** Where a run clones a stack from (may carry a token: seal it, never log it). */
    cloneUrls,
    /**
     * The head commit of a stack's tracked branch (`git ls-remote` of the URL a run would
     * clone), null when the branch does not exist. Errors never carry the URL.
     */
    async branchHead(
      stack: CloneUrlStack & { branch: string },
    ): Promise<string | null> {
      const url =
        (await cloneUrls.resolveCloneUrl(stack)) ??
        stack.repositoryUrl ??
        stack.repository;
      try {
        return await git.lsRemoteBranch(url, stack.branch);
      } catch (err) {
        throw new VcsRepositoryUnavailableError(
          `stack ${stack.id}: could not read branch ${stack.branch} of its repository: ${redactUrl(err instanceof Error ? err.message : String(err))}`,
        );
      }
    },
    /** For the stacks module's check of `vcsIntegrationId`. */
    stackIntegrations: { spaceOf: (id: string) => integrations.spaceOf(id) },
    pipeline,
    poller,
    feedback,
    events,
    handleWebhook,
    adapters: deps.adapters,
    newEventId: pipeline.newEventId,
    reportPushFailure,
    jobs: vcsJobs({
      db,
      handleWebhook,
      poller,
      feedback,
      reportPushFailure,
      clock,
    }),
  };
}

export type VcsModule = ReturnType<typeof createVcsModule>;
