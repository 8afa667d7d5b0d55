import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
  providerStackInput,
  testEncryptor,
} from "../../../test/stacks-fixtures.ts";
import { createStacksModule } from "./index.ts";
import { searchStacksQuery } from "./stack-queries.ts";
import { parseStackSearch, type SearchInputArg } from "./stack-search.ts";

let t: TestDatabase;
let m: ReturnType<typeof createStacksModule>;
const nulls = { booleanEquals: null, enumEquals: null, stringMatches: null };
const match = (field: string, values: string[], exclude = false) => ({
  field,
  constraint: { ...nulls, stringMatches: values },
  exclude,
});

async function ids(input: SearchInputArg, session = ADMIN): Promise<string[]> {
  const page = await m.stacks.searchStacks(session, input);
  return page.edges.map((e) => e.stack.id);
}

beforeAll(async () => {
  t = await createTestDatabase();
  m = createStacksModule({
    db: t.db,
    encryptor: testEncryptor(),
    clock: () => new Date(),
  });
  await insertSpace(t.db, "team-a");
  const mk = (
    name: string,
    extra: Parameters<typeof providerStackInput>[0] = {},
  ) => m.stacks.createStack(ADMIN, providerStackInput({ name, ...extra }));
  await mk("Alpha", {
    repository: "org/infra",
    projectRoot: "envs/prod",
    labels: ["prod"],
  });
  await mk("beta", {
    repository: "org/infra",
    projectRoot: "envs/dev",
    branch: "dev",
    labels: ["dev"],
  });
  await mk("Gamma 100%", {
    repository: "org/other",
    description: "the gamma stack",
    space: "team-a",
  });
  await mk("delta", { repository: "org/infra", autodeploy: true });
});
afterAll(async () => {
  await t?.destroy();
});

describe("searchStacks predicates", () => {
  it("finds stacks by repository, projectRoot and branch as spacectl sends them", async () => {
    expect(
      await ids({
        first: 50,
        predicates: [match("repository", ["org/infra"])],
      }),
    ).toEqual(["alpha", "beta", "delta"]);
    expect(
      await ids({
        first: 50,
        predicates: [
          match("repository", ["org/infra"]),
          match("projectRoot", ["envs/dev", "envs/dev/"]),
        ],
      }),
    ).toEqual(["beta"]);
    expect(
      await ids({
        predicates: [
          match("repository", ["org/infra"]),
          match("branch", ["dev"]),
        ],
      }),
    ).toEqual(["beta"]);
  });

  it("filters on labels, booleans, state, name and exclusion", async () => {
    expect(
      await ids({ predicates: [match("labels", ["prod", "dev"])] }),
    ).toEqual(["alpha", "beta"]);
    expect(
      await ids({ predicates: [match("labels", ["prod"], true)] }),
    ).toEqual(["beta", "delta", "gamma-100"]);
    expect(
      await ids({
        predicates: [
          {
            field: "autodeploy",
            constraint: { ...nulls, booleanEquals: [true] },
          },
        ],
      }),
    ).toEqual(["delta"]);
    expect(
      await ids({
        predicates: [
          { field: "state", constraint: { ...nulls, enumEquals: ["NONE"] } },
        ],
      }),
    ).toHaveLength(4);
    expect(
      await ids({
        predicates: [
          { field: "state", constraint: { ...nulls, enumEquals: ["FAILED"] } },
        ],
      }),
    ).toEqual([]);
    expect(await ids({ predicates: [match("name", ["beta"])] })).toEqual([
      "beta",
    ]);
    expect(await ids({ predicates: [match("space", ["team-a"])] })).toEqual([
      "gamma-100",
    ]);
  });

  it("searches name, id and description, treating % and _ literally", async () => {
    expect(await ids({ fullTextSearch: "GAMMA" })).toEqual(["gamma-100"]);
    expect(await ids({ fullTextSearch: "gamma stack" })).toEqual(["gamma-100"]);
    expect(await ids({ fullTextSearch: "100%" })).toEqual(["gamma-100"]);
    expect(await ids({ fullTextSearch: "%" })).toEqual(["gamma-100"]);
    expect(await ids({ fullTextSearch: "a_p" })).toEqual([]);
  });

  it("only returns stacks the caller can see", async () => {
    const key = await apiKeySession(t.db, { spaceId: "team-a", level: "READ" });
    expect(await ids({}, key)).toEqual(["gamma-100"]);
  });
});

describe("pagination at 10,000 stacks", () => {
  beforeAll(async () => {
    await sql`
      insert into stacks (id, name, space_id, repository, branch)
      select 'bulk-' || lpad(i::text, 5, '0'),
             (case when i % 2 = 0 then 'Bulk ' else 'bulk ' end) || lpad((10000 - i)::text, 5, '0'),
             'root', 'org/bulk', 'main'
      from generate_series(1, 10000) i`.execute(t.db);
    await sql`analyze stacks`.execute(t.db);
  });

  it("walks every stack exactly once, in name order", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    const started = Date.now();
    for (;;) {
      const page = await m.stacks.searchStacks(ADMIN, {
        first: 100,
        after,
        predicates: [match("repository", ["org/bulk"])],
      });
      seen.push(...page.edges.map((e) => e.stack.id));
      pages++;
      if (!page.hasNextPage) break;
      after = page.endCursor;
    }
    expect(pages).toBe(100);
    expect(seen).toHaveLength(10_000);
    expect(new Set(seen).size).toBe(10_000);
    // Names run "Bulk 00000", "bulk 00001", ... (mixed case) as the ids count down.
    const expected = Array.from(
      { length: 10_000 },
      (_, k) => `bulk-${String(10_000 - k).padStart(5, "0")}`,
    );
    expect(seen).toEqual(expected);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("serves a deep page from the name index, not a sort of every row", async () => {
    const search = parseStackSearch({ first: 50, after: null });
    const middle = await m.stacks.searchStacks(ADMIN, {
      first: 1,
      after: null,
      fullTextSearch: "bulk 05000",
    });
    const cursor = middle.endCursor!;
    const compiled = searchStacksQuery(
      t.db,
      { ...search, after: parseStackSearch({ after: cursor }).after },
      "all",
    ).compile();
    const plan = await explainWithParams(
      compiled.sql,
      compiled.parameters as unknown[],
    );
    expect(plan).toContain("stacks_name");
    expect(plan).not.toMatch(/^\s*->\s+Sort\b/m);
  });
});

async function explainWithParams(
  text: string,
  params: unknown[],
): Promise<string> {
  const client = await t.pool.connect();
  try {
    const res = await client.query<{ "QUERY PLAN": string }>(
      `explain ${text}`,
      params,
    );
    return res.rows.map((r) => r["QUERY PLAN"]).join("\n");
  } finally {
    client.release();
  }
}
