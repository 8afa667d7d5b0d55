import {
  HOOK_NAMES,
  type ConfigType,
  type HookLists,
  type HookName,
} from "./stack.ts";

/**
 * How a stack's environment is assembled from its layers (spacelift-reference §1.3).
 *
 * Config precedence, highest first; an element is identified by (type, id), so an env
 * var `FOO` and a mounted file `FOO` do not shadow each other:
 *   1. runtime: `environment` of `.spacelift/config.yml` (source `runtime`);
 *   2. the stack's own elements (source `stack`);
 *   3. explicitly attached contexts, by priority: the LOWEST priority number wins a
 *      conflict (priority 0 is "first"), ties broken by context id so the result never
 *      depends on row order (source `context:<id>`);
 *   4. auto-attached contexts, alphabetically by name then id; the first wins.
 * A context that is both attached and auto-attached counts once, as attached.
 *
 * Hooks are concatenated, not overridden. Before-phase hooks (before*) run: attached
 * contexts by priority, then auto-attached contexts in reverse alphabetical order, then
 * the stack's. After-phase hooks (after*, afterRun) run in exactly the reverse order of
 * layers: stack, auto-attached alphabetically, attached by descending priority. Each
 * layer keeps its own commands in order.
 */

export type ConfigSourceLabel = "runtime" | "stack" | `context:${string}`;

export interface ConfigLayers<E extends { id: string; type: ConfigType }> {
  runtime?: E[];
  stack: E[];
  attached: Array<{ contextId: string; priority: number; elements: E[] }>;
  autoAttached: Array<{
    contextId: string;
    contextName: string;
    elements: E[];
  }>;
}

export interface HookLayers {
  stack: HookLists;
  attached: Array<{ contextId: string; priority: number; hooks: HookLists }>;
  autoAttached: Array<{
    contextId: string;
    contextName: string;
    hooks: HookLists;
  }>;
}

function byPriority(
  a: { priority: number; contextId: string },
  b: { priority: number; contextId: string },
): number {
  return a.priority - b.priority || compareStrings(a.contextId, b.contextId);
}

function alphabetical(
  a: { contextName: string; contextId: string },
  b: { contextName: string; contextId: string },
): number {
  return (
    compareStrings(a.contextName, b.contextName) ||
    compareStrings(a.contextId, b.contextId)
  );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The winning element for every (type, id), each tagged with its source, ordered by
 * source precedence and then by id.
 */
export function resolveEffectiveConfig<
  E extends { id: string; type: ConfigType },
>(layers: ConfigLayers<E>): Array<E & { source: ConfigSourceLabel }> {
  const attachedIds = new Set(layers.attached.map((a) => a.contextId));
  const ordered: Array<{ source: ConfigSourceLabel; elements: E[] }> = [
    { source: "runtime", elements: layers.runtime ?? [] },
    { source: "stack", elements: layers.stack },
    ...[...layers.attached].sort(byPriority).map((a) => ({
      source: `context:${a.contextId}` as const,
      elements: a.elements,
    })),
    ...layers.autoAttached
      .filter((a) => !attachedIds.has(a.contextId))
      .sort(alphabetical)
      .map((a) => ({
        source: `context:${a.contextId}` as const,
        elements: a.elements,
      })),
  ];
  const seen = new Set<string>();
  const out: Array<E & { source: ConfigSourceLabel }> = [];
  for (const layer of ordered) {
    const mine = [...layer.elements].sort((a, b) => compareStrings(a.id, b.id));
    for (const el of mine) {
      const key = `${el.type}\0${el.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ ...el, source: layer.source });
    }
  }
  return out;
}

function isBeforeHook(h: HookName): boolean {
  return h.startsWith("before");
}

/** The merged hook lists of a run, per the order documented above. */
export function effectiveHooks(layers: HookLayers): HookLists {
  const attachedIds = new Set(layers.attached.map((a) => a.contextId));
  const attached = [...layers.attached].sort(byPriority).map((a) => a.hooks);
  const auto = layers.autoAttached
    .filter((a) => !attachedIds.has(a.contextId))
    .sort(alphabetical)
    .map((a) => a.hooks);
  const beforeOrder = [...attached, ...[...auto].reverse(), layers.stack];
  const afterOrder = [...beforeOrder].reverse();
  const out = {} as HookLists;
  for (const h of HOOK_NAMES) {
    const order = isBeforeHook(h) ? beforeOrder : afterOrder;
    out[h] = order.flatMap((hooks) => hooks[h]);
  }
  return out;
}

export const AUTOATTACH_PREFIX = "autoattach:";

/**
 * Whether a context auto-attaches to a stack. `autoattach:<label>` matches stacks that
 * carry `<label>`; `autoattach:*` matches every stack. Either way the context must live
 * in a space the stack may use (`spaceLineage`: the stack's space and the ancestors it
 * inherits from, SpaceAccess `usableSpaces`): a context never reaches into sibling
 * spaces or into a child space that does not inherit, so a writer of one space cannot
 * inject variables or hooks into another space's stacks.
 */
export function autoAttaches(
  context: { labels: string[]; spaceId: string },
  stack: { labels: string[]; spaceLineage: readonly string[] },
): boolean {
  if (!stack.spaceLineage.includes(context.spaceId)) return false;
  const stackLabels = new Set(stack.labels);
  return context.labels.some((label) => {
    if (!label.startsWith(AUTOATTACH_PREFIX)) return false;
    const target = label.slice(AUTOATTACH_PREFIX.length);
    return target === "*" || (target !== "" && stackLabels.has(target));
  });
}
