import type { GitlabSettings, VcsIntegration } from "../../provider.ts";
import { VcsProviderConfigurationError } from "../provider-errors.ts";

/** The integration's GitLab settings; a non-GitLab integration here is a wiring bug. */
export function gitlabSettings(integration: VcsIntegration): GitlabSettings {
  const s = integration.settings;
  if (s.kind !== "GITLAB")
    throw new VcsProviderConfigurationError(
      `integration "${integration.name}" is a ${s.kind} integration, not GITLAB`,
    );
  return s;
}
