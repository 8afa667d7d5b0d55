import { dirname, join } from "node:path";
import {
  buildSchema,
  getNamedType,
  isAbstractType,
  isNonNullType,
  isObjectType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from "graphql";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import config, { RESOLVERS_OUTPUT } from "../../../../codegen.ts";
import type { App } from "../app.ts";
import { apiResolvers } from "../roles/api.ts";
import { SCHEMA_SDL, mergeResolvers } from "./graphql.ts";

/**
 * A value that is every service at once: the resolver factories only capture their
 * dependencies in closures, and this test reads which fields the maps resolve without
 * running any resolver.
 */
function inert(): unknown {
  const target = function () {} as unknown as object;
  const proxy: unknown = new Proxy(target, {
    get: (_t, key) => (key === "then" ? undefined : proxy),
    apply: () => proxy,
  });
  return proxy;
}

/** Object types a client can reach from Query and Mutation, with the fields leading there. */
function reachableObjectTypes(schema: GraphQLSchema): GraphQLObjectType[] {
  const seen = new Map<string, GraphQLObjectType>();
  const queue: GraphQLObjectType[] = [];
  const visit = (type: GraphQLObjectType) => {
    if (seen.has(type.name)) return;
    seen.set(type.name, type);
    queue.push(type);
  };
  for (const root of [schema.getQueryType(), schema.getMutationType()])
    if (root) visit(root);
  while (queue.length) {
    const type = queue.shift()!;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type);
      if (isObjectType(named)) visit(named);
      else if (isAbstractType(named))
        for (const member of schema.getPossibleTypes(named)) visit(member);
    }
  }
  return [...seen.values()];
}

/**
 * The property names of each `mappers` type of codegen.ts (the object a type's
 * resolvers receive as parent), read with the TypeScript checker.
 */
function mapperProperties(
  mappers: Record<string, string>,
): Map<string, Set<string>> {
  const baseDir = dirname(RESOLVERS_OUTPUT);
  const probe = join(baseDir, "__mapper_probe__.ts");
  const entries = Object.entries(mappers);
  const text = entries
    .map(([type, spec], i) => {
      const [path, name] = spec.split("#");
      return `import type { ${name} as M${i} } from "${path}";\nexport type ${type} = M${i};`;
    })
    .join("\n");
  const tsconfig = ts.readConfigFile(
    join(baseDir, "../../../../../tsconfig.json"),
    (p) => ts.sys.readFile(p),
  );
  const options = ts.parseJsonConfigFileContent(
    tsconfig.config,
    ts.sys,
    join(baseDir, "../../../../.."),
  ).options;
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, ...rest) =>
    fileName === probe
      ? ts.createSourceFile(fileName, text, language, true)
      : getSourceFile(fileName, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => fileName === probe || fileExists(fileName);
  const program = ts.createProgram([probe], options, host);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(probe)!;
  const result = new Map<string, Set<string>>();
  source.forEachChild((node) => {
    if (!ts.isTypeAliasDeclaration(node)) return;
    const type = checker.getTypeAtLocation(node.name);
    const props = checker.getPropertiesOfType(type).map((p) => p.name);
    result.set(node.name.text, new Set(props));
  });
  for (const [type] of entries)
    if (!result.get(type)?.size)
      throw new Error(`mapper of ${type} could not be read (${mappers[type]})`);
  return result;
}

/**
 * A non-null field of a mapped type (codegen.ts `mappers`) is served either from the
 * presenter object or by a field resolver; when neither has it, every client that
 * selects it gets "Cannot return null for non-nullable field". Types without a mapper
 * are returned whole by their parent's resolver, whose return type the generated
 * `Resolvers` checks field by field, and root fields need a resolver.
 */
describe("GraphQL resolver coverage", () => {
  it("serves every non-null field reachable from Query and Mutation", () => {
    const schema = buildSchema(SCHEMA_SDL);
    const resolved = mergeResolvers(apiResolvers(inert() as App)) as Record<
      string,
      Record<string, unknown>
    >;
    const resolverConfig = config.generates[RESOLVERS_OUTPUT] as {
      config: { mappers: Record<string, string> };
    };
    const carried = mapperProperties(resolverConfig.config.mappers);
    const roots = new Set(
      [schema.getQueryType(), schema.getMutationType()].map((t) => t?.name),
    );

    const unservedFields: string[] = [];
    const unservedRoots: string[] = [];
    let mappedChecked = 0;
    for (const type of reachableObjectTypes(schema)) {
      const isRoot = roots.has(type.name);
      const presenter = carried.get(type.name);
      if (!isRoot && !presenter) continue;
      if (presenter) mappedChecked++;
      for (const field of Object.values(type.getFields())) {
        if (!isNonNullType(field.type)) continue;
        if (resolved[type.name]?.[field.name]) continue;
        if (presenter?.has(field.name)) continue;
        (isRoot ? unservedRoots : unservedFields).push(
          `${type.name}.${field.name}`,
        );
      }
    }
    // Every mapped type is reachable, so each one was looked at.
    expect(mappedChecked).toBe(carried.size);
    expect(
      unservedFields,
      "non-null fields with neither a resolver nor a presenter field",
    ).toEqual([]);
    expect(
      unservedRoots.sort(),
      "non-null root fields without a resolver (serve them, or list them in unserved-resolvers.ts)",
    ).toEqual([]);
  });
});
