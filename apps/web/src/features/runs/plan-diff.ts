/**
 * The run page's per-resource diff: a plan change's `before`/`after` documents (JSON
 * text, values already masked on the worker) flattened into one row per attribute path,
 * so nested maps and lists read key by key.
 */

export const SENSITIVE = "(sensitive)";
export const UNKNOWN = "(known after apply)";

export type DiffKind = "added" | "removed" | "changed" | "same";

export interface DiffRow {
  /** `tags.owner`, `ingress[0].port`; "" for a value that is not a map or list. */
  path: string;
  /** Display text; undefined when the side has no such attribute. */
  before: string | undefined;
  after: string | undefined;
  kind: DiffKind;
}

/** The badge of a change: its kind as a person says it, and a colour family. */
export function actionLabel(actions: readonly string[]): {
  label: string;
  tone: string;
} {
  const has = (a: string) => actions.includes(a);
  if (has("create") && has("delete")) return { label: "replace", tone: "bad" };
  if (has("create")) return { label: "create", tone: "ok" };
  if (has("delete")) return { label: "delete", tone: "bad" };
  if (has("update")) return { label: "update", tone: "attention" };
  if (has("read")) return { label: "read", tone: "muted" };
  return { label: "no change", tone: "muted" };
}

export const isNoop = (actions: readonly string[]) =>
  actions.length === 0 || (actions.length === 1 && actions[0] === "no-op");

function parse(json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return json;
  }
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === "object" && v !== null;
}

/** A leaf value as text: strings as they are (placeholders too), the rest as JSON. */
export function formatValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null) return "null";
  return JSON.stringify(v);
}

function flatten(
  value: unknown,
  path: string,
  out: Map<string, string>,
  depth = 0,
): void {
  // Empty maps/lists and very deep values are shown whole, not split further.
  if (isContainer(value) && depth < 8 && Object.keys(value).length > 0) {
    if (Array.isArray(value))
      value.forEach((v, i) => flatten(v, `${path}[${i}]`, out, depth + 1));
    else
      for (const [k, v] of Object.entries(value))
        flatten(v, path ? `${path}.${k}` : k, out, depth + 1);
    return;
  }
  out.set(path, formatValue(value));
}

/**
 * One row per attribute path in either document, in the order they first appear
 * (before's order, then paths only after has). A `null` document (create or delete)
 * has no attributes: every row of the other side is added or removed.
 */
export function diffRows(beforeJson: string, afterJson: string): DiffRow[] {
  const before = new Map<string, string>();
  const after = new Map<string, string>();
  const b = parse(beforeJson);
  const a = parse(afterJson);
  if (b !== null) flatten(b, "", before);
  if (a !== null) flatten(a, "", after);
  const paths = [...new Set([...before.keys(), ...after.keys()])];
  return paths.map((path) => {
    const bv = before.get(path);
    const av = after.get(path);
    const kind: DiffKind =
      bv === undefined
        ? "added"
        : av === undefined
          ? "removed"
          : bv === av
            ? "same"
            : "changed";
    return { path, before: bv, after: av, kind };
  });
}
