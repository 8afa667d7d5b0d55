import Fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotFoundError } from "../platform/errors.ts";
import { registerGraphQL, type Resolvers } from "./graphql.ts";
import {
  DEFAULT_STRING_LIMIT,
  FIELD_LIMITS,
  LIST_LIMIT,
} from "./input-limits.ts";

let app: FastifyInstance;
const reached: string[] = [];

beforeAll(async () => {
  app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
  const resolvers = {
    Mutation: {
      stackCreate: (_: unknown, args: { input: { name: string } }) => {
        reached.push(args.input.name);
        throw new NotFoundError("resolver reached");
      },
      stackConfigAdd: () => {
        throw new NotFoundError("resolver reached");
      },
    },
  } as unknown as Resolvers;
  await registerGraphQL(app, {
    auth: { authenticate: () => Promise.reject(new Error("no sessions")) },
    resolvers: [resolvers],
    log: pino({ level: process.env["DEBUG_LOG"] ? "debug" : "silent" }),
  });
});
afterAll(() => app.close());

const STACK_CREATE =
  "mutation($input: StackInput!) { stackCreate(input: $input, manageState: true) { id } }";

async function stackCreate(input: Record<string, unknown>) {
  const res = await app.inject({
    method: "POST",
    url: "/graphql",
    payload: {
      query: STACK_CREATE,
      variables: {
        input: {
          administrative: false,
          autodeploy: false,
          autoretry: false,
          branch: "main",
          name: "ok",
          repository: "https://git.example.com/a.git",
          ...input,
        },
      },
    },
  });
  expect(res.statusCode).toBe(200);
  return res.json() as {
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
}

describe("GraphQL input length limits", () => {
  it("refuses a name over its limit with BAD_USER_INPUT naming the field", async () => {
    const body = await stackCreate({ name: "n".repeat(201) });
    expect(body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(body.errors?.[0]?.message).toBe(
      "stackCreate input.name: must be at most 200 characters (got 201)",
    );
    expect(reached).not.toContain("n".repeat(201));
  });

  it("names each label, repository and list element over its limit", async () => {
    const body = await stackCreate({
      labels: ["ok", "l".repeat(FIELD_LIMITS["labels"]! + 1)],
      repository: `https://h/${"r".repeat(70_000)}`,
      beforeInit: Array.from({ length: LIST_LIMIT + 1 }, () => "echo"),
    });
    const message = body.errors?.[0]?.message ?? "";
    expect(body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(message).toContain(
      "stackCreate input.labels[1]: must be at most 256",
    );
    expect(message).toContain(
      "stackCreate input.repository: must be at most 2048",
    );
    expect(message).toContain(
      `stackCreate input.beforeInit: must have at most ${LIST_LIMIT} elements`,
    );
  });

  it("applies the default to unnamed strings and lets valid input through", async () => {
    const long = await stackCreate({
      runnerImage: "i".repeat(DEFAULT_STRING_LIMIT + 1),
    });
    expect(long.errors?.[0]?.message).toContain(
      "stackCreate input.runnerImage: must be at most 4096 characters",
    );
    const ok = await stackCreate({
      name: "fits",
      description: "d".repeat(9000),
    });
    expect(ok.errors?.[0]?.message).toBe("resolver reached");
    expect(reached).toContain("fits");
  });

  it("answers variables that do not match their types as a coded client error", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/graphql",
      payload: {
        query: "mutation($id: ID!) { stackUnlock(id: $id) { id } }",
        variables: { id: null },
      },
    });
    const body = res.json() as {
      errors: Array<{ message: string; extensions?: { code?: string } }>;
    };
    expect(body.errors[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(body.errors[0]?.message).toContain('Variable "$id"');
  });

  it("refuses NUL characters, which Postgres text cannot store", async () => {
    const body = await stackCreate({ branch: "ma\u0000in" });
    expect(body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(body.errors?.[0]?.message).toBe(
      "stackCreate input.branch: must not contain NUL (\\u0000) characters",
    );
  });

  it("lets a mounted file's value be megabytes but not unbounded", async () => {
    const send = (value: string) =>
      app.inject({
        method: "POST",
        url: "/graphql",
        payload: {
          query:
            'mutation($c: ConfigInput!) { stackConfigAdd(stack: "s", config: $c) { id } }',
          variables: {
            c: { id: "f.txt", type: "FILE_MOUNT", value, writeOnly: false },
          },
        },
      });
    const ok = (await send("A".repeat(2 * 1024 * 1024))).json() as {
      errors: Array<{ message: string }>;
    };
    expect(ok.errors[0]?.message).toBe("resolver reached");
    const tooLong = (await send("A".repeat(4 * 1024 * 1024))).json() as {
      errors: Array<{ message: string }>;
    };
    expect(tooLong.errors[0]?.message).toContain(
      "stackConfigAdd config.value: must be at most 3145728 characters",
    );
  });
});
