import Fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { StackState } from "./generated/resolvers.ts";
import {
  mergeResolvers,
  registerGraphQL,
  schemaEnum,
  type Resolvers,
} from "./graphql.ts";

describe("mergeResolvers", () => {
  it("merges the fields each module resolves into one map per type", () => {
    const auth: Resolvers = {
      Query: { debugInfo: () => ({ selfHostedVersion: "" }) },
    };
    const stacks: Resolvers = {
      Query: { stacks: () => [] },
      Stack: { canWrite: () => true },
    };
    const merged = mergeResolvers([auth, stacks]);
    expect(Object.keys(merged).sort()).toEqual(["Query", "Stack"]);
    expect(Object.keys(merged.Query ?? {}).sort()).toEqual([
      "debugInfo",
      "stacks",
    ]);
  });

  it("refuses a field resolved by two modules", () => {
    const one: Resolvers = { Stack: { canWrite: () => true } };
    const two: Resolvers = { Stack: { canWrite: () => false } };
    expect(() => mergeResolvers([one, two])).toThrow(
      "GraphQL field Stack.canWrite is resolved twice",
    );
  });
});

describe("schemaEnum", () => {
  it("narrows a domain string to the enum's value", () => {
    const state: StackState = schemaEnum(StackState, "FINISHED", "StackState");
    expect(state).toBe(StackState.Finished);
  });

  it("names the enum when the value is not one of its values", () => {
    expect(() => schemaEnum(StackState, "READY", "StackState")).toThrow(
      "READY is not a value of the GraphQL enum StackState",
    );
  });
});

describe("registerGraphQL", () => {
  async function serve(): Promise<FastifyInstance> {
    const app = Fastify();
    await registerGraphQL(app, {
      auth: {
        authenticate: () => Promise.reject(new Error("no sessions here")),
      },
      resolvers: [
        {
          Query: {
            debugInfo: () => ({ selfHostedVersion: "" }),
            workerPools: () => [],
          },
        },
      ],
      log: pino({ level: "silent" }),
    });
    return app;
  }

  async function post(app: FastifyInstance, query: string) {
    const res = await app.inject({
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
  }

  it("answers a syntax error with GRAPHQL_PARSE_FAILED and graphql-js's message", async () => {
    const app = await serve();
    const res = await post(app, "{debugInfo{selfHostedVersion}");
    expect(res.status).toBe(200);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^Syntax Error: Expected Name/),
        extensions: { code: "GRAPHQL_PARSE_FAILED" },
      }),
    ]);
  });

  it("answers each validation error with GRAPHQL_VALIDATION_FAILED naming the field", async () => {
    const app = await serve();
    const res = await post(app, "{debugInfo{selfHostedVersion,nope},nopeRoot}");
    expect(res.status).toBe(200);
    expect(
      res.body.errors?.map((e) => [e.message, e.extensions?.code]),
    ).toEqual([
      [
        'Cannot query field "nope" on type "DebugInfo".',
        "GRAPHQL_VALIDATION_FAILED",
      ],
      [
        expect.stringContaining(
          'Cannot query field "nopeRoot" on type "Query"',
        ),
        "GRAPHQL_VALIDATION_FAILED",
      ],
    ]);
  });

  it("answers a missing variable with GRAPHQL_VALIDATION_FAILED naming the variable", async () => {
    const app = await serve();
    const res = await app.inject({
      method: "POST",
      url: "/graphql",
      payload: {
        query: "query($id:ID!){stack(id: $id){id}}",
        variables: {},
      },
    });
    const body = res.json<{
      errors: Array<{ message: string; extensions: unknown }>;
    }>();
    expect(body.errors[0]).toMatchObject({
      message: expect.stringContaining('Variable "$id"'),
      extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
    });
  });

  it("answers a field of an unbuilt feature with NOT_IMPLEMENTED naming the feature", async () => {
    const app = await serve();
    const res = await post(
      app,
      "query($input:SearchInput!){searchBlueprints(input: $input){edges{node{id}}}}",
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        message:
          "Query.searchBlueprints is not supported by Stackyard yet: support for blueprints is not built",
        extensions: { code: "NOT_IMPLEMENTED" },
      }),
    ]);
  });

  it("accepts empty argument lists, as Spacelift's server does", async () => {
    const app = await serve();
    const res = await post(
      app,
      "{workerPools(){id},debugInfo( ){selfHostedVersion}}",
    );
    expect(res.body).toEqual({
      data: { workerPools: [], debugInfo: { selfHostedVersion: "" } },
    });
  });
});
