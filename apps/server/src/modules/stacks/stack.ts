/**
 * The stacks module's domain types and the pure rules about them (ids, hooks, config
 * element validation). No I/O here.
 */

export const HOOK_NAMES = [
  "beforeInit",
  "afterInit",
  "beforePlan",
  "afterPlan",
  "beforeApply",
  "afterApply",
  "beforePerform",
  "afterPerform",
  "beforeDestroy",
  "afterDestroy",
  "afterRun",
] as const;
export type HookName = (typeof HOOK_NAMES)[number];
/** The 11 hook lists of a stack or context; every list present (possibly empty). */
export type HookLists = Record<HookName, string[]>;

export type WorkflowTool = "OPEN_TOFU" | "TERRAFORM_FOSS" | "CUSTOM";
export type StackVendorForm = "TERRAFORM" | "OPENTOFU";
export type AccessLevel = "NONE" | "READ" | "WRITE" | "ADMIN";
export type ConfigType = "ENVIRONMENT_VARIABLE" | "FILE_MOUNT";

export interface Space {
  id: string;
  name: string;
  description: string;
  parentSpaceId: string | null;
  inheritEntities: boolean;
  labels: string[];
  createdAt: Date;
}

export interface TrackedCommit {
  sha: string;
  message: string | null;
  author: string | null;
  at: Date | null;
  setBy: string | null;
}

/** State of the stack's latest tracked run (StackState); NONE before the first. */
export type StackState = string;

export interface Stack {
  id: string;
  name: string;
  description: string;
  labels: string[];
  spaceId: string;
  provider: string;
  repository: string;
  repositoryUrl: string | null;
  namespace: string;
  branch: string;
  projectRoot: string;
  additionalProjectGlobs: string[];
  gitSparseCheckoutPaths: string[];
  vcsIntegrationId: string | null;
  workerPoolId: string | null;
  workflowTool: WorkflowTool;
  /**
   * The vendor form the client sent: `terraform { workflowTool }` or `opentofu { }`,
   * read back as the same GraphQL type (StackConfigVendorTerraform / ...OpenTofu).
   */
  vendor: StackVendorForm;
  toolVersion: string | null;
  terraformWorkspace: string | null;
  externalStateAccess: boolean;
  smartSanitization: boolean;
  runnerImage: string | null;
  autodeploy: boolean;
  autoretry: boolean;
  administrative: boolean;
  githubActionDeploy: boolean;
  localPreviewEnabled: boolean;
  protectFromDeletion: boolean;
  manageState: boolean;
  enableWellKnownSecretMasking: boolean;
  enableSensitiveOutputsUpload: boolean;
  isDisabled: boolean;
  hooks: HookLists;
  lockedBy: string | null;
  lockedNote: string | null;
  lockedAt: Date | null;
  trackedCommit: TrackedCommit | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A stack as read for display: with its space, worker pool name and computed state. */
export interface StackView extends Stack {
  space: Space;
  workerPool: {
    id: string;
    name: string;
    description: string;
    labels: string[];
    spaceId: string;
  } | null;
  state: StackState;
  stateSetAt: Date | null;
}

export interface Context {
  id: string;
  name: string;
  description: string;
  labels: string[];
  spaceId: string;
  hooks: HookLists;
  createdAt: Date;
  updatedAt: Date;
}

export interface ContextAttachment {
  id: string;
  contextId: string;
  contextName: string;
  stackId: string;
  stackName: string;
  priority: number;
  isAutoattached: boolean;
}

/**
 * An environment variable or mounted file as callers may see it: `value` is null for a
 * write-only element, whose plaintext only `effectiveConfig` (the run engine) can read.
 */
export interface ConfigElement {
  id: string;
  type: ConfigType;
  value: string | null;
  writeOnly: boolean;
  checksum: string;
  description: string;
  createdAt: Date;
}

export function emptyHooks(): HookLists {
  return Object.fromEntries(
    HOOK_NAMES.map((h) => [h, []]),
  ) as unknown as HookLists;
}

/** Fills absent lists (stored JSON may omit them) and drops unknown keys. */
export function normalizeHooks(
  hooks:
    | Partial<Record<string, string[] | null | undefined>>
    | null
    | undefined,
): HookLists {
  const out = emptyHooks();
  for (const h of HOOK_NAMES) {
    const list = hooks?.[h];
    if (Array.isArray(list)) out[h] = list.filter((c) => typeof c === "string");
  }
  return out;
}

/**
 * The slug (id) derived from a name: lowercase ASCII letters and digits, every other run
 * of characters becomes one `-`, no leading or trailing `-`. "My Stack (prod)" →
 * "my-stack-prod". A name without letters or digits falls back to `fallback`.
 */
export function slugify(name: string, fallback = "stack"): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 100)
    .replace(/-+$/g, "");
  return slug || fallback;
}

/**
 * The id for a new slug, given the ids already taken among `slug` and `slug-<n>`: the
 * slug itself when free, else `slug-<max n + 1>` (starting at `slug-2`).
 */
export function nextFreeSlug(slug: string, taken: readonly string[]): string {
  if (!taken.includes(slug)) return slug;
  let max = 1;
  for (const id of taken) {
    const m = id.startsWith(`${slug}-`)
      ? /^[0-9]+$/.exec(id.slice(slug.length + 1))
      : null;
    if (m) max = Math.max(max, Number(m[0]));
  }
  return `${slug}-${max + 1}`;
}

export const SLUG_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** POSIX shell variable names: what `export NAME=...` accepts. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const MAX_FILE_MOUNT_BYTES = 2 * 1024 * 1024;

const BASE64_PATTERN =
  /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Checks a config element's id and value; returns a problem (naming the offending
 * field, relative to the ConfigInput) or null when it is valid.
 */
export function configElementProblem(input: {
  id: string;
  type: ConfigType;
  value: string;
}): string | null {
  if (input.type === "ENVIRONMENT_VARIABLE") {
    if (!ENV_NAME_PATTERN.test(input.id)) {
      return `id: "${input.id}" is not a valid environment variable name (letters, digits and _, not starting with a digit)`;
    }
    return null;
  }
  const path = input.id;
  if (!path.trim()) return "id: a mounted file needs a relative path";
  if (path.startsWith("/")) {
    return `id: "${path}" must be relative to /mnt/workspace, not absolute`;
  }
  if (
    path.includes("\0") ||
    path.split("/").some((seg) => seg === ".." || seg === "")
  ) {
    return `id: "${path}" must not contain empty or ".." path segments`;
  }
  if (!BASE64_PATTERN.test(input.value)) {
    return "value: a mounted file's value must be base64-encoded";
  }
  const bytes =
    (input.value.length / 4) * 3 - (input.value.match(/=+$/)?.[0].length ?? 0);
  if (bytes > MAX_FILE_MOUNT_BYTES) {
    return `value: mounted files are limited to 2 MB (${MAX_FILE_MOUNT_BYTES} bytes), this one is ${bytes} bytes`;
  }
  return null;
}

const ACCESS_RANK: Record<AccessLevel, number> = {
  NONE: 0,
  READ: 1,
  WRITE: 2,
  ADMIN: 3,
};

export function atLeast(level: AccessLevel, required: AccessLevel): boolean {
  return ACCESS_RANK[level] >= ACCESS_RANK[required];
}
