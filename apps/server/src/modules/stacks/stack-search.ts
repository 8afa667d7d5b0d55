import { ValidationError } from "../../platform/errors.ts";

/**
 * The `searchStacks(input: SearchInput!)` contract, parsed. spacectl sends (§2.1, §2.3)
 * `first`, `after`, `fullTextSearch` and the predicates `repository`, `projectRoot` and
 * `branch` as `stringMatches` (exact match against any listed value); the remaining
 * fields below are what the Spacelift UI filters on. `exclude: true` negates a predicate.
 * Results are always ordered by lower(name), then id (the `stacks_name` index), so the
 * keyset cursor is that pair; `orderBy` is accepted and ignored (spacectl never sends it).
 */

export interface SearchInputArg {
  first?: number | null;
  after?: string | null;
  fullTextSearch?: string | null;
  predicates?: Array<{
    field: string;
    constraint: {
      booleanEquals?: boolean[] | null;
      enumEquals?: string[] | null;
      stringMatches?: string[] | null;
    };
    exclude?: boolean | null;
  }> | null;
  orderBy?: { field: string; direction: string } | null;
}

export const STRING_FIELDS = [
  "id",
  "name",
  "repository",
  "branch",
  "projectRoot",
  "space",
  "namespace",
  "provider",
  "workerPool",
  "workflowTool",
  "state",
] as const;
export type StringField = (typeof STRING_FIELDS)[number];

export const BOOLEAN_FIELDS = [
  "administrative",
  "autodeploy",
  "autoretry",
  "isDisabled",
  "locked",
  "localPreviewEnabled",
  "protectFromDeletion",
  "starred",
] as const;
export type BooleanField = (typeof BOOLEAN_FIELDS)[number];

export type StackFilter =
  | { kind: "string"; field: StringField; values: string[]; exclude: boolean }
  | { kind: "labels"; values: string[]; exclude: boolean }
  | {
      kind: "boolean";
      field: BooleanField;
      values: boolean[];
      exclude: boolean;
    };

export interface StackCursor {
  name: string;
  id: string;
}

export interface StackSearch {
  first: number;
  after: StackCursor | null;
  text: string | null;
  filters: StackFilter[];
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

const FIELD_ALIASES: Record<string, string> = {
  label: "labels",
  spaceId: "space",
  project_root: "projectRoot",
  disabled: "isDisabled",
  vendor: "workflowTool",
};

function fail(path: string, message: string): never {
  throw new ValidationError(`searchStacks input.${path}: ${message}`);
}

export function parseStackSearch(input: SearchInputArg): StackSearch {
  let first = input.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1)
    fail("first", "must be a positive integer");
  first = Math.min(first, MAX_PAGE_SIZE);
  const after = input.after ? decodeCursor(input.after) : null;
  const text = input.fullTextSearch?.trim() || null;
  const filters = (input.predicates ?? []).map((p, i) =>
    parsePredicate(p, `predicates[${i}]`),
  );
  return { first, after, text, filters };
}

function parsePredicate(
  p: NonNullable<SearchInputArg["predicates"]>[number],
  path: string,
): StackFilter {
  const field = FIELD_ALIASES[p.field] ?? p.field;
  const exclude = p.exclude ?? false;
  const { booleanEquals, enumEquals, stringMatches } = p.constraint;
  if (field === "labels") {
    if (booleanEquals)
      fail(
        `${path}.constraint`,
        `labels takes stringMatches, not booleanEquals`,
      );
    return {
      kind: "labels",
      values: [...(stringMatches ?? []), ...(enumEquals ?? [])],
      exclude,
    };
  }
  if ((STRING_FIELDS as readonly string[]).includes(field)) {
    if (booleanEquals)
      fail(
        `${path}.constraint`,
        `${p.field} takes stringMatches or enumEquals, not booleanEquals`,
      );
    if (!stringMatches && !enumEquals)
      fail(
        `${path}.constraint`,
        `${p.field} needs stringMatches or enumEquals`,
      );
    return {
      kind: "string",
      field: field as StringField,
      values: [...(stringMatches ?? []), ...(enumEquals ?? [])],
      exclude,
    };
  }
  if ((BOOLEAN_FIELDS as readonly string[]).includes(field)) {
    if (!booleanEquals)
      fail(`${path}.constraint`, `${p.field} takes booleanEquals`);
    return {
      kind: "boolean",
      field: field as BooleanField,
      values: booleanEquals,
      exclude,
    };
  }
  return fail(
    `${path}.field`,
    `unknown field "${p.field}"; known: ${[...STRING_FIELDS, "labels", ...BOOLEAN_FIELDS].join(", ")}`,
  );
}

export function encodeCursor(cursor: StackCursor): string {
  return Buffer.from(JSON.stringify([cursor.name, cursor.id])).toString(
    "base64url",
  );
}

export function decodeCursor(raw: string): StackCursor {
  try {
    const parsed: unknown = JSON.parse(
      Buffer.from(raw, "base64url").toString("utf8"),
    );
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      parsed.every((v) => typeof v === "string")
    ) {
      return { name: parsed[0] as string, id: parsed[1] as string };
    }
  } catch {
    // fall through to the validation error
  }
  return fail("after", "is not a cursor returned by searchStacks");
}
