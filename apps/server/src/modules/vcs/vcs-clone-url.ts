import type { VcsProviderAdapters } from "./provider.ts";
import { VcsCloneUrlError } from "./vcs-errors.ts";
import {
  integrationKindOfStackProvider,
  type VcsIntegrationRecord,
} from "./vcs-integration.ts";

/** The stack fields that decide where it is cloned from. */
export interface CloneUrlStack {
  id: string;
  provider: string;
  namespace: string;
  repository: string;
  repositoryUrl: string | null;
  vcsIntegrationId: string | null;
}

/**
 * The repository path on the provider: `<namespace>/<repository>`, or `repository` alone
 * when the namespace is empty and it already holds the full path (as the push pipeline
 * matches stacks).
 */
export function repositoryPathOf(
  stack: Pick<CloneUrlStack, "namespace" | "repository">,
): string {
  return stack.namespace
    ? `${stack.namespace}/${stack.repository}`
    : stack.repository;
}

/**
 * Where a run clones a GitHub or GitLab stack from: the adapter's clone URL of the
 * stack's repository under its integration (the one `vcsIntegrationId` names, else the
 * provider's default). null: the stack is not cloned through an integration, because it
 * is a raw git stack or its `repositoryURL` is set (an explicit URL is cloned as given).
 *
 * The URL may carry a live credential (a GitHub installation token, the GitLab token):
 * the caller seals it for the worker and never logs, stores or returns it. Errors name
 * the stack field to fix and never carry the URL.
 */
export function createCloneUrlResolver(deps: {
  integrations: {
    loadById(id: string): Promise<VcsIntegrationRecord | null>;
    loadDefault(
      provider: "GITHUB" | "GITLAB",
    ): Promise<VcsIntegrationRecord | null>;
  };
  adapters: VcsProviderAdapters;
}) {
  return {
    async resolveCloneUrl(stack: CloneUrlStack): Promise<string | null> {
      if (stack.repositoryUrl) return null;
      const kind = integrationKindOfStackProvider(stack.provider);
      if (kind !== "GITHUB" && kind !== "GITLAB") return null;
      const integration = stack.vcsIntegrationId
        ? await deps.integrations.loadById(stack.vcsIntegrationId)
        : await deps.integrations.loadDefault(kind);
      if (!integration)
        throw new VcsCloneUrlError(
          stack.vcsIntegrationId
            ? `stack ${stack.id}: vcsIntegrationId names VCS integration ${stack.vcsIntegrationId}, which no longer exists; point the stack at an existing ${kind} integration`
            : `stack ${stack.id} is a ${stack.provider} stack without a VCS integration to clone through: set vcsIntegrationId, create a default ${kind} integration, or set repositoryURL`,
        );
      if (integration.provider !== kind)
        throw new VcsCloneUrlError(
          `stack ${stack.id}: vcsIntegrationId names ${integration.provider} integration ${integration.name}, but the stack's provider is ${stack.provider}; use a ${kind} integration`,
        );
      const adapter = deps.adapters[kind];
      if (!adapter)
        throw new VcsCloneUrlError(
          `no ${kind} provider adapter is registered; stack ${stack.id} cannot be cloned through integration ${integration.name}`,
        );
      return adapter.cloneUrl(integration, repositoryPathOf(stack));
    },
  };
}

export type CloneUrlResolver = ReturnType<typeof createCloneUrlResolver>;
