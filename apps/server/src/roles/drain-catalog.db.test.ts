import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/db.ts";
import { buildStack } from "../../test/factories.ts";
import { silentLog } from "../../test/run-kit.ts";
import { createApp, type App } from "../app.ts";
import { loadConfig } from "../platform/config/index.ts";
import { JOB_NAME_PATTERN, type JobCatalog } from "../platform/queue/index.ts";
import { jobCatalog } from "./drain.ts";

/**
 * Two jobs are enqueued by database triggers rather than `enqueue()` (cross-module
 * reactions to run transitions that must commit with the transition, whatever code
 * writes it, in order per run). They are catalogued like every job, with `enqueuedBy`
 * naming the trigger; these tests hold the installed triggers and the catalog together
 * and check that what a trigger enqueues is what its handler accepts.
 */
let t: TestDatabase;
let dataDir: string;
let app: App;
let catalog: JobCatalog;

beforeAll(async () => {
  t = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-catalog-"));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const config = loadConfig({
    env: {
      STACKYARD_LOG_LEVEL: "error",
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      ENCRYPTION_RSA_PRIVATE_KEY: Buffer.from(
        privateKey.export({ type: "pkcs1", format: "pem" }),
      ).toString("base64"),
    },
    cwd: dataDir,
  });
  app = await createApp(config, { databaseUrl: t.url, log: silentLog });
  catalog = jobCatalog(app);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await t?.destroy();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface InstalledProducer {
  trigger: string;
  table: string;
  jobs: string[];
}

/** Every trigger whose function inserts into queue_messages, with the job names it names. */
async function installedProducers(): Promise<InstalledProducer[]> {
  const { rows } = await sql<{ trigger: string; table: string; src: string }>`
    select tg.tgname as trigger, c.relname as table, p.prosrc as src
    from pg_trigger tg
    join pg_class c on c.oid = tg.tgrelid
    join pg_proc p on p.oid = tg.tgfoid
    where not tg.tgisinternal and p.prosrc ~* 'insert\\s+into\\s+queue_messages'
    order by tg.tgname`.execute(t.db);
  return rows.map((r) => ({
    trigger: r.trigger,
    table: r.table,
    jobs: [...r.src.matchAll(/'([^']+)'/g)]
      .map((m) => m[1] ?? "")
      .filter((word) => JOB_NAME_PATTERN.test(word)),
  }));
}

describe("jobs enqueued by SQL triggers", () => {
  it("every trigger inserting into queue_messages is declared by the catalog entry of the job it enqueues, and nothing else is", async () => {
    const installed = await installedProducers();
    const declared = Object.entries(catalog)
      .filter(([, def]) => def.enqueuedBy !== undefined)
      .map(([name, def]) => ({
        trigger: def.enqueuedBy?.trigger,
        table: def.enqueuedBy?.table,
        jobs: [name],
      }))
      .sort((a, b) => String(a.trigger).localeCompare(String(b.trigger)));
    expect(installed).toEqual(declared);
    expect(installed.map((p) => p.jobs[0])).toEqual([
      "policies.runTransitioned",
      "vcs.reportStatus",
    ]);
  });

  it("enqueue, in the transition's transaction and FIFO group per run, payloads their handlers accept", async () => {
    await sql`insert into policies (id, name, type, body, space_id, engine_type)
      values ('notify-all', 'notify-all', 'NOTIFICATION', 'package spacelift', 'root', 'REGO_V1')`.execute(
      t.db,
    );
    const stack = await buildStack(t.db);
    await sql`insert into runs (id, stack_id, type, blocking, state)
      values ('run-linked', ${stack.id}, 'TRACKED', true, 'QUEUED')`.execute(
      t.db,
    );
    await sql`insert into vcs_run_links (run_id, stack_id, commit_sha, run_type, repository)
      values ('run-linked', ${stack.id}, 'abc1234', 'TRACKED', 'acme/infra')`.execute(
      t.db,
    );
    // A rolled-back transition enqueues nothing.
    await t.db
      .transaction()
      .execute(async (tx) => {
        await sql`insert into run_transitions (run_id, state_version, state)
          values ('run-linked', 2, 'READY')`.execute(tx);
        throw new Error("roll back");
      })
      .catch(() => undefined);
    await sql`insert into run_transitions (run_id, state_version, state)
      values ('run-linked', 2, 'READY'), ('run-linked', 3, 'PREPARING')`.execute(
      t.db,
    );
    const { rows } = await sql<{
      name: string;
      payload: unknown;
      group_key: string | null;
    }>`select name, payload, group_key from queue_messages
       where name in ('vcs.reportStatus', 'policies.runTransitioned')
       order by name, id`.execute(t.db);
    expect(rows.map((r) => [r.name, r.group_key])).toEqual([
      ["policies.runTransitioned", "policies.run:run-linked"],
      ["policies.runTransitioned", "policies.run:run-linked"],
      ["vcs.reportStatus", "vcs.feedback:run-linked"],
      ["vcs.reportStatus", "vcs.feedback:run-linked"],
    ]);
    for (const row of rows) {
      const def = catalog[row.name];
      expect(def?.schema.safeParse(row.payload).success, row.name).toBe(true);
    }
    expect(rows.map((r) => (r.payload as { state: string }).state)).toEqual([
      "READY",
      "PREPARING",
      "READY",
      "PREPARING",
    ]);
  });
});
