import { requireSession } from "../../api/graphql-context.ts";
import type { Resolvers } from "../../api/generated/resolvers.ts";
import type { VcsIntegrationView } from "./vcs-integration.ts";
import type { VcsIntegrationService } from "./vcs-integration-service.ts";
import type { StackVcsEvent } from "./vcs-event-repo.ts";
import type { Session } from "../auth/index.ts";

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

function presentIntegration(v: VcsIntegrationView) {
  return {
    id: v.id,
    name: v.name,
    provider: v.provider,
    space: v.spaceId,
    isDefault: v.isDefault,
    labels: v.labels,
    description: v.description,
    checks: v.checks,
    apiUrl: v.apiUrl,
    gitUrl: v.gitUrl,
    appId: v.appId,
    hasWebhookSecret: v.hasWebhookSecret,
    hasCredentials: v.hasCredentials,
    webhookUrl: v.webhookUrl,
    createdAt: seconds(v.createdAt),
    updatedAt: seconds(v.updatedAt),
  };
}

function presentEvent(e: StackVcsEvent) {
  return {
    id: e.eventId,
    source: e.source,
    kind: e.kind,
    repository: e.repository,
    branch: e.branch,
    tag: e.tag,
    sha: e.sha,
    pullRequest: e.prNumber,
    receivedAt: seconds(e.receivedAt),
    outcome: e.outcome,
    runId: e.runId,
    reason: e.reason,
    rules: e.rules,
    actions: e.actions,
  };
}

export function vcsResolvers(deps: {
  integrations: Pick<
    VcsIntegrationService,
    "create" | "update" | "delete" | "list" | "get" | "usedByStack"
  >;
  events: {
    listForStack(
      session: Session,
      stackId: string,
      limit?: number | null,
    ): Promise<StackVcsEvent[]>;
  };
}): Resolvers {
  const { integrations, events } = deps;
  return {
    Stack: {
      // The integration in use: the one the stack names, else its provider's default.
      vcsIntegration: (stack) =>
        integrations.usedByStack({
          provider: stack.provider,
          vcsIntegrationId: stack.vcsIntegration?.id ?? null,
        }),
    },
    Query: {
      stackyardVcsIntegrations: async (_root, _args, ctx) =>
        (await integrations.list(requireSession(ctx))).map(presentIntegration),
      stackyardVcsIntegration: async (_root, args, ctx) => {
        const v = await integrations.get(requireSession(ctx), args.id);
        return v ? presentIntegration(v) : null;
      },
      stackyardVcsEvents: async (_root, args, ctx) =>
        (
          await events.listForStack(requireSession(ctx), args.stack, args.limit)
        ).map(presentEvent),
    },
    Mutation: {
      stackyardVcsIntegrationCreate: async (_root, args, ctx) =>
        presentIntegration(
          await integrations.create(requireSession(ctx), args.input),
        ),
      stackyardVcsIntegrationUpdate: async (_root, args, ctx) =>
        presentIntegration(
          await integrations.update(requireSession(ctx), args.id, args.input),
        ),
      stackyardVcsIntegrationDelete: async (_root, args, ctx) =>
        presentIntegration(
          await integrations.delete(requireSession(ctx), args.id),
        ),
    },
  };
}
