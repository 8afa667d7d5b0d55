import { createStackConfig } from "./stack-config.ts";
import { createStackControls } from "./stack-controls.ts";
import { createStackGuards, type StackServiceDeps } from "./stack-guards.ts";
import { createStackSettings } from "./stack-settings.ts";

export { lockHolder, type StackServiceDeps } from "./stack-guards.ts";
export type {
  EffectiveConfigElement,
  RuntimeConfigEntry,
  StackContextAttachmentView,
} from "./stack-config.ts";

/**
 * Stacks: settings, user lock, enable/disable, tracked commit, their environment
 * variables and mounted files, and the effective environment a run gets.
 *
 * Access: every method taking a Session checks the caller's level on the stack's space
 * (space-access.ts). A stack the caller cannot read is reported as not found.
 * `loadStack`, `effectiveConfig` and `effectiveHooks` take no Session: they are for the
 * run engine, which acts on runs it has already authorised, and must never be exposed
 * to callers as they are.
 *
 * The use cases live by concern: settings (stack-settings.ts), lock, enablement and
 * tracked commit (stack-controls.ts), and the environment (stack-config.ts), over the
 * access checks of stack-guards.ts.
 */
export function createStackService(deps: StackServiceDeps) {
  const guards = createStackGuards(deps);
  return {
    ...createStackSettings(deps, guards),
    ...createStackControls(deps, guards),
    ...createStackConfig(guards),
  };
}

export type StackService = ReturnType<typeof createStackService>;
