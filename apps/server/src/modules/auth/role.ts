/**
 * Roles: the Action catalogue (Spacelift's `Action` enum, spacelift-reference §1.8), the
 * built-in roles, and how a role's actions become a space access level. Pure; no I/O.
 */

/** `<family>:<verb>` actions as Spacelift's GraphQL spells them (`stack:add-config` → `STACK_ADD_CONFIG`). */
const CATALOGUE: Record<string, readonly string[]> = {
  space: ["admin", "read", "write", "share-module"],
  task: ["create"],
  context: ["create", "delete", "update"],
  worker: ["drain-set"],
  "worker-pool": ["create", "cycle", "delete", "reset", "update"],
  module: [
    "create",
    "disable",
    "enable",
    "mark-as-bad",
    "publish",
    "trigger-version",
  ],
  run: [
    "cancel",
    "cancel-blocking",
    "comment",
    "confirm",
    "discard",
    "prioritize-set",
    "promote",
    "propose-local-workspace",
    "propose-with-overrides",
    "retry",
    "retry-blocking",
    "review",
    "stop",
    "stop-blocking",
    "targeted-replan",
    "trigger",
    "trigger-with-custom-runtime-config",
  ],
  stack: [
    "add-config",
    "create",
    "delete",
    "delete-config",
    "disable",
    "enable",
    "lock",
    "manage",
    "managed-state-import",
    "managed-state-rollback",
    "reslug",
    "set-current-commit",
    "set-star",
    "state-download",
    "state-read",
    "sync-commit",
    "unlock",
    "unlock-force",
    "update",
    "upload-local-workspace",
    "workspace-lock",
    "workspace-unlock",
  ],
};

const enumName = (family: string, verb: string) =>
  `${family}_${verb}`.replace(/-/g, "_").toUpperCase();

/** Every value of the GraphQL `Action` enum, in catalogue order. */
export const ACTIONS: readonly string[] = Object.entries(CATALOGUE).flatMap(
  ([family, verbs]) => verbs.map((verb) => enumName(family, verb)),
);

export type SpaceLevel = "READ" | "WRITE" | "ADMIN";

/** Built-in role ids (= slugs, migration 0015), by the level they grant. */
export const BUILT_IN_ROLE_OF_LEVEL: Record<SpaceLevel, string> = {
  READ: "space-reader",
  WRITE: "space-writer",
  ADMIN: "space-admin",
};

/**
 * The level a role's actions give in its space: SPACE_ADMIN → ADMIN, SPACE_WRITE →
 * WRITE, any other action → READ (a role in a space lets its holder see the space).
 * Finer actions (RUN_TRIGGER without SPACE_WRITE, …) grant only READ today: resolvers
 * check levels, not single actions, so a custom role never gets more than its
 * SPACE_* actions say.
 */
export function levelOfActions(actions: readonly string[]): SpaceLevel | null {
  if (actions.includes("SPACE_ADMIN")) return "ADMIN";
  if (actions.includes("SPACE_WRITE")) return "WRITE";
  return actions.length ? "READ" : null;
}

/** A custom role's slug from its name: lowercase words joined by `-`. */
export function slugOfRoleName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}
