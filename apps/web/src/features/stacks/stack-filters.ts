/**
 * The stacks page's state tabs (spacelift-reference §1.1). Each is sent to the server as
 * a `state` predicate, so filtering works across every page, not just the visible one.
 */
export const STATE_FILTERS = [
  { id: "all", label: "All", states: [] },
  { id: "attention", label: "Needs attention", states: ["UNCONFIRMED"] },
  { id: "failed", label: "Failed", states: ["FAILED"] },
  {
    id: "hold",
    label: "On hold",
    states: ["NONE", "CONFIRMED", "REPLAN_REQUESTED"],
  },
  {
    id: "progress",
    label: "In progress",
    states: [
      "APPLYING",
      "DESTROYING",
      "INITIALIZING",
      "PLANNING",
      "PREPARING_APPLY",
      "PREPARING_REPLAN",
    ],
  },
  { id: "finished", label: "Finished", states: ["FINISHED"] },
] as const;

export type StateFilterId = (typeof STATE_FILTERS)[number]["id"];

export interface QueryPredicate {
  field: string;
  constraint: { enumEquals?: string[]; stringMatches?: string[] };
  exclude: boolean;
}

/**
 * The `SearchInput` of one page of the stacks list. The folder and the label are two
 * `label` predicates (Spacelift's field name), which the server ANDs, so both filter
 * every page on the server.
 */
export function stacksSearchInput(opts: {
  filter: StateFilterId;
  search: string;
  label: string;
  folder?: string;
  after: string | null;
  pageSize: number;
}): Record<string, unknown> {
  const predicates: QueryPredicate[] = [];
  const filter = STATE_FILTERS.find((f) => f.id === opts.filter);
  if (filter && filter.states.length > 0)
    predicates.push({
      field: "state",
      constraint: { enumEquals: [...filter.states] },
      exclude: false,
    });
  const folder = opts.folder?.trim();
  if (folder)
    predicates.push({
      field: "label",
      constraint: { stringMatches: [folderLabel(folder)] },
      exclude: false,
    });
  const label = opts.label.trim();
  if (label)
    predicates.push({
      field: "label",
      constraint: { stringMatches: [label] },
      exclude: false,
    });
  return {
    first: opts.pageSize,
    after: opts.after,
    fullTextSearch: opts.search.trim() || null,
    predicates,
    orderBy: null,
  };
}

const FOLDER_PREFIX = "folder:";

/** The folders (`folder:<x>` labels) among `labelSets`, merged into `known`, sorted. */
export function foldersOf(
  labelSets: ReadonlyArray<readonly string[]>,
  known: readonly string[] = [],
): string[] {
  const all = new Set(known);
  for (const labels of labelSets)
    for (const l of labels)
      if (l.startsWith(FOLDER_PREFIX) && l.length > FOLDER_PREFIX.length)
        all.add(l.slice(FOLDER_PREFIX.length));
  return [...all].sort((a, b) => a.localeCompare(b));
}

/** The folder a label filter selects (`folder:<x>`), or "" for any other filter. */
export function folderOfLabel(label: string): string {
  const l = label.trim();
  return l.startsWith(FOLDER_PREFIX) ? l.slice(FOLDER_PREFIX.length) : "";
}

export const folderLabel = (folder: string) => `${FOLDER_PREFIX}${folder}`;
