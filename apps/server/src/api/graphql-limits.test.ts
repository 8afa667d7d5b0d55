import { readdirSync, readFileSync } from "node:fs";
import { buildSchema, parse, validate } from "graphql";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createHttpServer,
  createMetricsRegistry,
} from "../platform/http/http-server.ts";
import { createLogger } from "../platform/log/logger.ts";
import { registerGraphQL, SCHEMA_SDL } from "./graphql.ts";
import {
  checkQueryLimits,
  MAX_QUERY_DEPTH,
  MAX_QUERY_FIELDS,
  MAX_QUERY_TOKENS,
  measureQuery,
} from "./graphql-limits.ts";

const schema = buildSchema(SCHEMA_SDL);
const OPERATIONS_DIR = new URL(
  "../../../../packages/api-client/src/operations/",
  import.meta.url,
);

/** Every operation the web UI and CLI send, and the largest spacectl/provider ones. */
function clientOperations(): Array<{ name: string; source: string }> {
  const ours = readdirSync(OPERATIONS_DIR)
    .filter((f) => f.endsWith(".graphql"))
    .map((f) => ({
      name: f,
      source: readFileSync(new URL(f, OPERATIONS_DIR), "utf8"),
    }));
  const theirs = readFileSync(
    new URL("./fixtures/largest-client-operations.graphql", import.meta.url),
    "utf8",
  )
    .split("# ---")
    .map((source, i) => ({ name: `spacelift client operation #${i}`, source }));
  return [...ours, ...theirs];
}

describe("query limits", () => {
  it("let every real client operation through, with room to spare", () => {
    const ops = clientOperations();
    expect(ops.length).toBeGreaterThan(60);
    let deepest = 0;
    let widest = 0;
    for (const op of ops) {
      const doc = parse(op.source);
      expect(validate(schema, doc), op.name).toEqual([]);
      expect(checkQueryLimits(doc), op.name).toEqual([]);
      const m = measureQuery(doc);
      deepest = Math.max(deepest, m.depth);
      widest = Math.max(widest, m.fields);
    }
    expect(deepest * 2).toBeLessThanOrEqual(MAX_QUERY_DEPTH);
    expect(widest * 4).toBeLessThanOrEqual(MAX_QUERY_FIELDS);
  });

  it("counts aliases and repeated fragment spreads each time, and ends fragment cycles", () => {
    expect(
      measureQuery(parse("{ a: viewer { id } b: viewer { id } }")),
    ).toEqual({
      depth: 2,
      fields: 4,
    });
    const spreads = parse(
      "query { viewer { ...F ...F } } fragment F on User { id name }",
    );
    expect(measureQuery(spreads)).toEqual({ depth: 2, fields: 5 });
    const cycle = parse(
      "query { viewer { ...F } } fragment F on User { id ...F }",
    );
    expect(measureQuery(cycle)).toEqual({ depth: 2, fields: 2 });
  });
});

describe("POST /graphql limits", () => {
  let http: FastifyInstance;
  beforeAll(async () => {
    const log = createLogger({ level: "silent", format: "json" });
    http = createHttpServer({
      log,
      readiness: [],
      metrics: createMetricsRegistry({ service: "test" }),
    });
    await registerGraphQL(http, {
      auth: { authenticate: async () => Promise.reject(new Error("none")) },
      log,
      resolvers: [
        {
          Query: {
            debugInfo: () => ({ selfHostedVersion: "1" }),
            viewer: () => null,
          },
        },
      ],
    });
    await http.ready();
  });
  afterAll(async () => {
    await http.close();
  });

  const post = async (query: string) => {
    const res = await http.inject({
      method: "POST",
      url: "/graphql",
      payload: { query },
    });
    return {
      status: res.statusCode,
      body: res.json<{
        data?: unknown;
        errors?: Array<{ message: string; extensions?: { code?: string } }>;
      }>(),
    };
  };

  it("refuses an alias fan-out with QUERY_TOO_COMPLEX before validating it", async () => {
    const aliases = Array.from(
      { length: 1000 },
      (_, i) => `a${i}: debugInfo { selfHostedVersion }`,
    ).join(" ");
    const started = Date.now();
    const res = await post(`{ ${aliases} }`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining(
        `more than ${MAX_QUERY_FIELDS} fields`,
      ) as string,
      extensions: { code: "QUERY_TOO_COMPLEX" },
    });
  });

  it("stops parsing a document over the token limit with QUERY_TOO_LARGE", async () => {
    const res = await post(`{ ${"debugInfo ".repeat(MAX_QUERY_TOKENS)} }`);
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining(`${MAX_QUERY_TOKENS} tokens`) as string,
      extensions: { code: "QUERY_TOO_LARGE" },
    });
  });

  it("answers a malformed JSON AST as a parse failure, not an internal error", async () => {
    const res = await post(
      JSON.stringify({
        kind: "Document",
        definitions: [{ kind: "OperationDefinition" }],
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("refuses a repeated-field bomb that graphql-js validation would take quadratic time on", async () => {
    const started = Date.now();
    const res = await post(
      `{ ${"debugInfo { selfHostedVersion } ".repeat(3000)} }`,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COMPLEX");
  });

  it("refuses a query nested deeper than the limit with QUERY_TOO_DEEP", async () => {
    const nested = `{ ${'a: __type(name: "Query") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } }'} }`;
    const res = await post(nested);
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining(
        `more than ${MAX_QUERY_DEPTH} deep`,
      ) as string,
      extensions: { code: "QUERY_TOO_DEEP" },
    });
  });

  it("answers a document that does not validate with its code, naming the field", async () => {
    const res = await post("{ debugInfo { nope } }");
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('"nope"') as string,
      extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
    });
    const syntax = await post("{ debugInfo { ");
    expect(syntax.status).toBe(200);
    expect(syntax.body.errors?.[0]?.extensions?.code).toBe(
      "GRAPHQL_PARSE_FAILED",
    );
  });

  it("refuses a body over 8 MiB with 413 before parsing it", async () => {
    const res = await http.inject({
      method: "POST",
      url: "/graphql",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ query: `{ ${"x".repeat(9 * 1024 * 1024)} }` }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({
      data: null,
      errors: [
        {
          message:
            "the request body is larger than the 8 MiB POST /graphql accepts",
          extensions: { code: "PAYLOAD_TOO_LARGE" },
        },
      ],
    });
    const notJson = await http.inject({
      method: "POST",
      url: "/graphql",
      headers: { "content-type": "application/json" },
      payload: "{ not json",
    });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json<{ errors: unknown[] }>().errors[0]).toMatchObject({
      extensions: { code: "BAD_REQUEST" },
    });
  });

  it("still answers a query within the limits", async () => {
    const res = await post("{ debugInfo { selfHostedVersion } viewer { id } }");
    expect(res).toEqual({
      status: 200,
      body: { data: { debugInfo: { selfHostedVersion: "1" }, viewer: null } },
    });
  });
});
