import type { GithubSettings, VcsIntegration } from "../../provider.ts";
import { VcsProviderConfigurationError } from "../provider-errors.ts";

/** The integration's GitHub settings; a non-GitHub integration here is a wiring bug. */
export function githubSettings(integration: VcsIntegration): GithubSettings {
  const s = integration.settings;
  if (s.kind !== "GITHUB")
    throw new VcsProviderConfigurationError(
      `integration "${integration.name}" is a ${s.kind} integration, not GITHUB`,
    );
  return s;
}
