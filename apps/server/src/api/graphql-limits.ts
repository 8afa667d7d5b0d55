import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
} from "graphql";

/**
 * Bounds on one GraphQL request, checked before graphql-js validates it (its
 * OverlappingFieldsCanBeMerged rule is quadratic in repeated fields, so a request must be
 * small before it is validated at all):
 * - tokens: the parser stops after MAX_QUERY_TOKENS (graphql-js `maxTokens`);
 * - depth: fields nested in fields, fragments expanded (`a { b { c } }` is 3);
 * - fields: every field selected, aliases and fragment expansions counted each time they
 *   appear, over every operation of the document, so a query cannot fan out through
 *   aliases or repeated fragment spreads.
 *
 * The largest operations the Spacelift clients send (spacectl, the Terraform provider,
 * the web UI and CLI in packages/api-client) stay well below: graphql-limits.test.ts
 * measures them.
 */
export const MAX_QUERY_DEPTH = 12;
export const MAX_QUERY_FIELDS = 500;
export const MAX_QUERY_TOKENS = 20_000;

export interface QueryLimits {
  maxDepth: number;
  maxFields: number;
}

export interface QueryMeasure {
  depth: number;
  fields: number;
}

/**
 * Depth and field count of `document`, stopping early once either passes its limit (the
 * numbers are then lower bounds). A fragment already being expanded on the current path is
 * skipped, so fragment cycles end here (NoFragmentCycles reports them afterwards).
 */
export function measureQuery(
  document: DocumentNode,
  limits: QueryLimits = { maxDepth: Infinity, maxFields: Infinity },
): QueryMeasure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions)
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const result: QueryMeasure = { depth: 0, fields: 0 };
  const expanding = new Set<string>();
  const over = () =>
    result.depth > limits.maxDepth || result.fields > limits.maxFields;

  const walk = (set: SelectionSetNode, depth: number): void => {
    for (const s of set.selections) {
      if (over()) return;
      if (s.kind === Kind.FIELD) {
        result.fields += 1;
        result.depth = Math.max(result.depth, depth + 1);
        if (s.selectionSet) walk(s.selectionSet, depth + 1);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        walk(s.selectionSet, depth);
      } else {
        const name = s.name.value;
        const fragment = fragments.get(name);
        if (!fragment || expanding.has(name)) continue;
        expanding.add(name);
        walk(fragment.selectionSet, depth);
        expanding.delete(name);
      }
    }
  };
  for (const d of document.definitions)
    if (d.kind === Kind.OPERATION_DEFINITION) walk(d.selectionSet, 0);
  return result;
}

/** The errors to answer instead of running `document`; empty when it is within limits. */
export function checkQueryLimits(
  document: DocumentNode,
  limits: QueryLimits = {
    maxDepth: MAX_QUERY_DEPTH,
    maxFields: MAX_QUERY_FIELDS,
  },
): GraphQLError[] {
  const m = measureQuery(document, limits);
  const errors: GraphQLError[] = [];
  if (m.depth > limits.maxDepth)
    errors.push(
      new GraphQLError(
        `the query nests fields more than ${limits.maxDepth} deep; split it into smaller queries`,
        { extensions: { code: "QUERY_TOO_DEEP", limit: limits.maxDepth } },
      ),
    );
  if (m.fields > limits.maxFields)
    errors.push(
      new GraphQLError(
        `the query selects more than ${limits.maxFields} fields (aliases and fragment uses counted each time); split it into smaller queries`,
        { extensions: { code: "QUERY_TOO_COMPLEX", limit: limits.maxFields } },
      ),
    );
  return errors;
}
