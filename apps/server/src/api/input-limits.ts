import type {
  GraphQLArgument,
  GraphQLInputType,
  GraphQLResolveInfo,
} from "graphql";
import { ValidationError } from "../platform/errors.ts";

/**
 * Length limits for every string a GraphQL operation takes, checked at the edge before
 * any resolver runs, so no module sees an unbounded string: a 65 KB repository string
 * or a 100 MB label would otherwise reach the database, logs, regexes and the poller.
 * Limits count UTF-16 code units ("characters") and go by the field or argument name,
 * wherever it appears (`description` has one limit in every input type); a string of a
 * list counts under the list's field name. Anything not listed gets the default for its
 * scalar. Lists are bounded too.
 *
 * Strings must not contain NUL characters either, which Postgres text cannot store.
 *
 * A violation is a ValidationError (BAD_USER_INPUT) naming the operation and the field
 * the way `parseInput` does: "stackCreate input.labels[3]: must be at most 256 characters".
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** For a String or ID argument or input field not named in FIELD_LIMITS. */
export const DEFAULT_STRING_LIMIT = 4 * KiB;
export const DEFAULT_ID_LIMIT = 256;
/** Elements of any list argument or input field. */
export const LIST_LIMIT = 1000;

const HOOK_COMMAND = 64 * KiB;

/** By field name, or `InputType.field` where one input type needs its own. */
export const FIELD_LIMITS: Readonly<Record<string, number>> = {
  // A mounted file's path, or an environment variable's name.
  "ConfigInput.id": 1 * KiB,
  name: 200,
  description: 10_000,
  labels: 256,
  note: 10_000,
  branch: 255,
  namespace: 512,
  repository: 2 * KiB,
  repositoryURL: 2 * KiB,
  apiUrl: 2 * KiB,
  gitUrl: 2 * KiB,
  endpoint: 2 * KiB,
  projectRoot: 2 * KiB,
  targets: 1 * KiB,
  fullTextSearch: 1 * KiB,
  // Environment variable values and mounted files (2 MB decoded, so ~2.7 MB of base64).
  value: 3 * MiB,
  // Policy bodies, simulation input, runtime config YAML.
  body: 1 * MiB,
  input: 1 * MiB,
  yaml: 1 * MiB,
  command: HOOK_COMMAND,
  certificateSigningRequest: 64 * KiB,
  privateKey: 64 * KiB,
  afterApply: HOOK_COMMAND,
  afterDestroy: HOOK_COMMAND,
  afterInit: HOOK_COMMAND,
  afterPerform: HOOK_COMMAND,
  afterPlan: HOOK_COMMAND,
  afterRun: HOOK_COMMAND,
  beforeApply: HOOK_COMMAND,
  beforeDestroy: HOOK_COMMAND,
  beforeInit: HOOK_COMMAND,
  beforePerform: HOOK_COMMAND,
  beforePlan: HOOK_COMMAND,
};

/**
 * Throws a ValidationError listing every string or list above its limit in the
 * arguments of the field being resolved; `args` are the coerced arguments.
 */
export function checkInputLimits(
  info: Pick<GraphQLResolveInfo, "parentType" | "fieldName">,
  args: Record<string, unknown>,
): void {
  const field = info.parentType.getFields()[info.fieldName];
  if (!field || !("args" in field)) return;
  const problems: string[] = [];
  for (const arg of field.args as readonly GraphQLArgument[]) {
    const value = args[arg.name];
    if (value !== undefined && value !== null)
      walk(
        arg.type,
        value,
        arg.name,
        "",
        `${info.fieldName} ${arg.name}`,
        problems,
      );
  }
  if (problems.length) throw new ValidationError(problems.join("; "));
}

function walk(
  type: GraphQLInputType,
  value: unknown,
  fieldName: string,
  ownerType: string,
  path: string,
  problems: string[],
): void {
  if (value === null || value === undefined) return;
  // Structural checks: mercurius runs graphql's CommonJS build and this module imports
  // the ESM one, so graphql's instanceof-based `isListType` etc. would refuse its types.
  const inner = String(type).endsWith("!")
    ? (type as unknown as { ofType: GraphQLInputType }).ofType
    : type;
  if (String(inner).startsWith("[")) {
    if (!Array.isArray(value)) return;
    if (value.length > LIST_LIMIT)
      problems.push(
        `${path}: must have at most ${LIST_LIMIT} elements (got ${value.length})`,
      );
    else
      value.forEach((item, i) =>
        walk(
          (inner as unknown as { ofType: GraphQLInputType }).ofType,
          item,
          fieldName,
          ownerType,
          `${path}[${i}]`,
          problems,
        ),
      );
    return;
  }
  const named = inner as unknown as {
    name: string;
    getFields?: () => Record<string, { type: GraphQLInputType }>;
  };
  if (named.getFields) {
    if (typeof value !== "object") return;
    const fields = named.getFields();
    for (const [key, child] of Object.entries(
      value as Record<string, unknown>,
    )) {
      const def = fields[key];
      if (def)
        walk(def.type, child, key, named.name, `${path}.${key}`, problems);
    }
    return;
  }
  if (typeof value === "string") {
    const limit =
      FIELD_LIMITS[`${ownerType}.${fieldName}`] ??
      FIELD_LIMITS[fieldName] ??
      (named.name === "ID" ? DEFAULT_ID_LIMIT : DEFAULT_STRING_LIMIT);
    if (value.length > limit)
      problems.push(
        `${path}: must be at most ${limit} characters (got ${value.length})`,
      );
    // Postgres text cannot hold U+0000; refused here rather than failing the write.
    else if (value.includes("\u0000"))
      problems.push(`${path}: must not contain NUL (\\u0000) characters`);
  }
}

type Resolver = (
  root: unknown,
  args: Record<string, unknown>,
  ctx: unknown,
  info: GraphQLResolveInfo,
) => unknown;

/** The resolver map with every Query and Mutation field checking its arguments first. */
export function withInputLimits<M extends object>(resolvers: M): M {
  const byType = resolvers as Record<
    string,
    Record<string, unknown> | undefined
  >;
  const out: Record<string, unknown> = { ...byType };
  for (const type of ["Query", "Mutation"]) {
    const fields = byType[type];
    if (!fields) continue;
    out[type] = Object.fromEntries(
      Object.entries(fields).map(([name, resolver]) => {
        if (typeof resolver !== "function") return [name, resolver];
        const resolve = resolver as Resolver;
        const checked: Resolver = (root, args, ctx, info) => {
          checkInputLimits(info, args);
          return resolve(root, args, ctx, info);
        };
        return [name, checked];
      }),
    );
  }
  return out as M;
}
