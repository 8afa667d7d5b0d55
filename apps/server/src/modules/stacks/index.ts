/**
 * Stacks: stacks, spaces, contexts and their attachments, environment variables and
 * mounted files, and the effective environment and hooks a run gets. Owns tables
 * `stacks`, `spaces`, `contexts`, `context_attachments`, `config_elements` (and reads
 * `api_keys.access_level` for space access). It does not run anything: run state,
 * stack locks held by runs, policies, dependencies and outputs belong to other modules,
 * which add their own resolvers for those `Stack` fields.
 */
import type { Database } from "../../platform/db/index.ts";
import type { Encryptor } from "../../platform/crypto/index.ts";
import { createContextService } from "./context-service.ts";
import { createSpaceAccess } from "./space-access.ts";
import { createSpaceService } from "./space-service.ts";
import { createStackService, type StackServiceDeps } from "./stack-service.ts";

export { createSpaceAccess, type SpaceAccess } from "./space-access.ts";
export {
  createStackService,
  lockHolder,
  type StackService,
  type StackServiceDeps,
  type EffectiveConfigElement,
  type RuntimeConfigEntry,
  type StackContextAttachmentView,
} from "./stack-service.ts";
export {
  createContextService,
  type ContextService,
  type ContextServiceDeps,
} from "./context-service.ts";
export {
  createSpaceService,
  ROOT_SPACE_ID,
  type SpaceService,
  type SpaceServiceDeps,
} from "./space-service.ts";
export {
  effectiveHooks,
  resolveEffectiveConfig,
  autoAttaches,
  type ConfigSourceLabel,
} from "./stack-environment.ts";
export {
  stackLoader,
  stackResolvers,
  type StackStateImport,
} from "./stack-resolvers.ts";
export { contextResolvers } from "./context-resolvers.ts";
export { spaceResolvers } from "./space-resolvers.ts";
export { presentSpace } from "./stack-presenters.ts";
export type {
  ContextNode,
  SpaceNode,
  StackIntegrationsNode,
  StackNode,
} from "./stack-presenters.ts";
export {
  HOOK_NAMES,
  slugify,
  type AccessLevel,
  type ConfigElement,
  type Context,
  type ContextAttachment,
  type HookLists,
  type HookName,
  type Space,
  type Stack,
  type StackView,
} from "./stack.ts";
export type {
  StackInput,
  ContextInput,
  SpaceInput,
  ConfigInput,
} from "./stack-inputs.ts";
export {
  StackNotFoundError,
  ContextNotFoundError,
  SpaceNotFoundError,
  StackLockedError,
  StackProtectedError,
} from "./stack-errors.ts";

/** Builds the module's services around one shared SpaceAccess. */
export function createStacksModule(deps: {
  db: Database;
  encryptor: Pick<Encryptor, "encrypt" | "decrypt">;
  clock: () => Date;
  /** Checks `vcsIntegrationId` on stack create/update (StackServiceDeps). */
  vcsIntegrations?: StackServiceDeps["vcsIntegrations"];
  /** Reads a stack's branch head for `stackSyncCommit` (StackServiceDeps). */
  branchHeads?: StackServiceDeps["branchHeads"];
  allowLocalRepositories?: StackServiceDeps["allowLocalRepositories"];
}) {
  const access = createSpaceAccess(deps.db);
  return {
    access,
    stacks: createStackService({ ...deps, access }),
    contexts: createContextService({ ...deps, access }),
    spaces: createSpaceService({ db: deps.db, clock: deps.clock, access }),
  };
}
