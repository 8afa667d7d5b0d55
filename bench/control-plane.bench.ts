import { sql } from "kysely";
import { startBenchServer, report, timeIt } from "./bench-kit.ts";

/**
 * Control-plane benchmarks, each printed as a ratio to a baseline measured in the same run:
 * - stack list at 10,000 stacks (first page and a deep page of S08 `searchStacks`) vs an
 *   authenticated `{debugInfo}` query (the GraphQL + auth floor);
 * - scheduling throughput: QUEUED runs on many stacks made READY by scheduling passes,
 *   vs inserting the same runs (the write floor).
 */
const STACKS = Number(process.env.BENCH_STACKS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 2_000);

const env = await startBenchServer();
const { app } = env.server;
try {
  const { db } = app;
  await sql`insert into stacks (id, name, space_id, repository, branch)
    select 'stack-' || lpad(g::text, 6, '0'), 'Stack ' || lpad(g::text, 6, '0'), 'root', 'org/repo', 'main'
    from generate_series(1, ${STACKS}) g`.execute(db);
  const key = await app.auth.createApiKey({ name: "bench", admin: true });
  const { token } = await app.auth.exchangeApiKey(key.id, key.secret);
  const gql = async (query: string, variables?: unknown) => {
    const res = await fetch(`${env.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body;
  };
  const page = `query($input: SearchInput!){searchStacks(input: $input){edges{node{id,name,state,labels}},pageInfo{endCursor,hasNextPage}}}`;
  const input = (after: string | null) => ({
    input: {
      first: 50,
      after,
      fullTextSearch: null,
      predicates: null,
      orderBy: null,
    },
  });
  // A cursor near the end, found by walking once.
  let deep: string | null = null;
  for (
    let i = 0, after: string | null = null;
    i < Math.floor(STACKS / 50) - 2;
    i++
  ) {
    const r = (await gql(page, input(after))) as {
      data: { searchStacks: { pageInfo: { endCursor: string } } };
    };
    after = deep = r.data.searchStacks.pageInfo.endCursor;
  }
  const baseline = await timeIt(
    200,
    async () => void (await gql("{debugInfo{selfHostedVersion}}")),
  );
  report(
    `stack list, first page of ${STACKS}`,
    await timeIt(200, async () => void (await gql(page, input(null)))),
    baseline,
  );
  report(
    `stack list, deep page of ${STACKS}`,
    await timeIt(200, async () => void (await gql(page, input(deep)))),
    baseline,
  );

  // Scheduling: one pool with enough idle workers, RUNS proposed+tracked runs over many stacks.
  const pool = await db
    .insertInto("worker_pools")
    .values({
      id: "wp_bench",
      name: "bench",
      space_id: "root",
      token_hash: "0".repeat(64),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  await sql`insert into workers (id, worker_pool_id, status) select 'wkr_' || g, ${pool.id}, 'IDLE' from generate_series(1, ${RUNS}) g`.execute(
    db,
  );
  const insertRuns = async (prefix: string) => {
    const t = performance.now();
    await sql`insert into runs (id, stack_id, type, blocking, state, worker_pool_id)
      select ${prefix} || g, 'stack-' || lpad(((g % ${STACKS}) + 1)::text, 6, '0'),
             case when g % 2 = 0 then 'TRACKED' else 'PROPOSED' end, g % 2 = 0, 'QUEUED', ${pool.id}
      from generate_series(1, ${RUNS}) g`.execute(db);
    return performance.now() - t;
  };
  const insertMs = await insertRuns("run_bench_a_");
  await sql`delete from runs where id like 'run_bench_a_%'`.execute(db);
  await insertRuns("run_bench_b_");
  const t = performance.now();
  let ready = 0;
  for (let pass = 0; pass < 1000 && ready < RUNS; pass++) {
    const r = await app.runs.scheduler.schedule();
    ready += r.ready.length;
    if (!r.ready.length && !r.more) break;
  }
  const scheduleMs = performance.now() - t;
  console.log(
    `scheduling: ${ready}/${RUNS} runs QUEUED→READY in ${scheduleMs.toFixed(0)} ms (${((ready / scheduleMs) * 1000).toFixed(0)} runs/s); baseline insert of the same runs ${insertMs.toFixed(0)} ms; ratio ${(scheduleMs / insertMs).toFixed(2)}x`,
  );
} finally {
  await env.close();
}
