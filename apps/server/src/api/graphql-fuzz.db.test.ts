import { mkdir, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  type GraphQLField,
  type GraphQLInputType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/db.ts";
import { loadConfig } from "../platform/config/index.ts";
import { createLogger } from "../platform/log/logger.ts";
import { startServer, type RunningServer } from "../server.ts";
import { SCHEMA_SDL } from "./graphql.ts";
import { freePort } from "../../test/ports.ts";

/**
 * Fuzzes every mutation of the schema against a real api role with an admin session:
 * arguments are generated from their SDL types (strings of every shape and length,
 * existing and random ids, enum values, nested inputs with fields present, null or
 * absent). No answer may be a 500 or an "internal error": every error is a client
 * error with a code, and the server keeps serving.
 */

const schema = buildSchema(SCHEMA_SDL);
const mutations = Object.values(schema.getMutationType()!.getFields());

/** Ids that exist in the seeded database, so resolvers get past "not found". */
const KNOWN_IDS = ["root", "fuzz-stack", "fuzz-context", "legacy"];

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "-x",
      "../../etc/passwd",
      "/srv/git/infra",
      "file:///etc",
      "ext::sh -c id",
      "https://user:pw@127.0.0.1:1/x.git",
      "http://169.254.169.254/",
      "{}",
      "null",
      'package spacelift\ndeny["x"] { true }',
      "\u0000",
      "a".repeat(5000),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("a", "/", "=", ":", "@"),
        fc.integer({ min: 1000, max: 70_000 }),
      )
      .map(([c, n]) => c.repeat(n)),
  },
);
const id = fc.oneof(fc.constantFrom(...KNOWN_IDS), text);

function valueOf(
  type: GraphQLInputType,
  depth = 0,
  required = false,
): fc.Arbitrary<unknown> {
  if (isNonNullType(type))
    return valueOf(type.ofType as GraphQLInputType, depth, true);
  const nullable = (a: fc.Arbitrary<unknown>) =>
    required
      ? a
      : fc.oneof(
          { weight: 5, arbitrary: a },
          { weight: 1, arbitrary: fc.constant(null) },
        );
  if (isListType(type))
    return nullable(
      fc.array(valueOf(type.ofType as GraphQLInputType, depth + 1), {
        maxLength: depth > 2 ? 1 : 4,
      }),
    );
  const named = getNamedType(type);
  if (isEnumType(named))
    return nullable(
      fc.constantFrom(...named.getValues().map((v) => v.value as string)),
    );
  if (isInputObjectType(named)) {
    if (depth > 4) return fc.constant(null);
    const fields = Object.values(named.getFields());
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of fields) shape[f.name] = valueOf(f.type, depth + 1);
    const required = fields
      .filter((f) => isNonNullType(f.type))
      .map((f) => f.name);
    return nullable(fc.record(shape, { requiredKeys: required }));
  }
  switch (named.name) {
    case "ID":
      return nullable(id);
    case "Int":
      return nullable(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    case "Float":
      return nullable(fc.double({ noNaN: true, noDefaultInfinity: true }));
    case "Boolean":
      return nullable(fc.boolean());
    default:
      return nullable(text);
  }
}

/** `mutation($a: T!, ...) { field(a: $a, ...) { __typename } }` and its variables. */
function operationFor(field: GraphQLField<unknown, unknown>) {
  const decls = field.args
    .map((a) => `$${a.name}: ${String(a.type)}`)
    .join(", ");
  const pass = field.args.map((a) => `${a.name}: $${a.name}`).join(", ");
  const selection = isLeafType(getNamedType(field.type))
    ? ""
    : " { __typename }";
  const query = `mutation${decls ? `(${decls})` : ""} { ${field.name}${pass ? `(${pass})` : ""}${selection} }`;
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const a of field.args) shape[a.name] = valueOf(a.type);
  return { query, variables: fc.record(shape) };
}

let t: TestDatabase;
let server: RunningServer;
let token: string;

beforeAll(async () => {
  t = await createTestDatabase();
  const cwd = await mkdtemp(path.join(os.tmpdir(), "stackyard-fuzz-"));
  await mkdir(path.join(cwd, ".stackyard"), { recursive: true });
  const config = loadConfig({
    cwd,
    configFile: null,
    flags: { port: await freePort(), mqttPort: await freePort() },
    env: { STACKYARD_HOSTNAME: "127.0.0.1" },
  });
  server = await startServer(config, {
    databaseUrl: t.url,
    log: createLogger({ level: "silent", format: "json" }),
    roles: ["api"],
  });
  token = (
    await server.app.signer.sign(
      { sub: "user:admin", name: "admin", admin: true },
      3600,
    )
  ).token;
  await gql(
    `mutation($i: StackInput!) { stackCreate(input: $i, manageState: true, slug: "fuzz-stack") { id } }`,
    {
      i: {
        name: "fuzz stack",
        administrative: false,
        autodeploy: false,
        autoretry: false,
        branch: "main",
        repository: "https://git.example.com/fuzz.git",
      },
    },
  );
});
afterAll(async () => {
  await server?.stop();
  await t?.destroy();
});

interface Answer {
  status: number;
  body: {
    errors?: Array<{ message?: unknown; extensions?: { code?: unknown } }>;
  };
}

async function gql(query: string, variables: unknown): Promise<Answer> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as Answer["body"] };
}

/** A client error: a 4xx with a message, or a 200 whose errors each carry a non-internal code. */
function expectClientErrorsOnly(name: string, answer: Answer) {
  expect(answer.status, name).toBeLessThan(500);
  for (const err of answer.body.errors ?? []) {
    expect(typeof err.message, name).toBe("string");
    if (answer.status === 200) {
      expect(
        err.extensions?.code,
        `${name}: ${String(err.message)}`,
      ).toBeTypeOf("string");
      expect(err.extensions?.code, `${name}: ${String(err.message)}`).not.toBe(
        "INTERNAL",
      );
      expect(err.message, name).not.toBe("internal error");
    }
  }
}

describe("GraphQL mutations under random input", () => {
  it("answer every generated input with data or a coded client error, never a 500", async () => {
    const deadline = Date.now() + 40_000;
    let cases = 0;
    const failures: string[] = [];
    for (const field of mutations) {
      const { query, variables } = operationFor(field);
      const result = await fc.check(
        fc.asyncProperty(variables, async (vars) => {
          cases++;
          expectClientErrorsOnly(
            `${field.name} ${JSON.stringify(vars).slice(0, 300)}`,
            await gql(query, vars),
          );
        }),
        {
          numRuns: 40,
          interruptAfterTimeLimit: Math.max(1000, (deadline - Date.now()) / 4),
        },
      );
      if (result.failed)
        failures.push(
          `${field.name}: ${String(result.errorInstance)}`.slice(0, 600),
        );
    }
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThan(mutations.length);
    expectClientErrorsOnly(
      "still serving",
      await gql(
        'mutation { stackyardStackFolders: stackUnlock(id: "fuzz-stack") { id } }',
        {},
      ),
    );
  }, 180_000);
});
