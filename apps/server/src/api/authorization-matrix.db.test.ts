import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyInstance } from "fastify";
import { buildSchema } from "graphql";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/db.ts";
import { buildPool, buildStack, buildWorker } from "../../test/factories.ts";
import { insertSpace } from "../../test/stacks-fixtures.ts";
import { silentLog } from "../../test/run-kit.ts";
import { createApp, type App } from "../app.ts";
import { hashSecret } from "../modules/auth/index.ts";
import { loadConfig } from "../platform/config/index.ts";
import { apiResolvers } from "../roles/api.ts";
import { registerGraphQL } from "./graphql.ts";
import {
  MATRIX,
  type MatrixRow,
  type Need,
  type Outcome,
  type Target,
} from "./authorization-matrix.ts";

// Every Query and Mutation root field × {no session, API keys holding Space Reader,
// Writer or Admin in space mx-own} × a resource in {mx-own, its child mx-kid, its sibling mx-sib, its parent
// mx-par}, against the real app (every module's resolvers, real Postgres). The expected
// outcome of each cell comes from the field's row in authorization-matrix.ts.

const SCHEMA = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "schema.graphql",
);
const LEVELS = ["READ", "WRITE", "ADMIN"] as const;
type Level = (typeof LEVELS)[number];
const RELATIONS = {
  own: "mx-own",
  child: "mx-kid",
  sibling: "mx-sib",
  parent: "mx-par",
} as const;
type Relation = keyof typeof RELATIONS;
const RANK = { NONE: 0, READ: 1, WRITE: 2, ADMIN: 3 } as const;
const BUILT_IN_ROLE = {
  READ: "space-reader",
  WRITE: "space-writer",
  ADMIN: "space-admin",
} as const;

function expected(
  row: MatrixRow,
  level: Level | null,
  relation: Relation,
): Outcome {
  if (level === null) return row.anonymous ?? "UNAUTHENTICATED";
  const ok = row.ok ?? "data";
  if (row.need === "KEY") return ok;
  if (row.need === "ROOT_ADMIN") return "FORBIDDEN";
  const effective: Level | "NONE" =
    row.spaceless || relation === "own" || relation === "child"
      ? level
      : "NONE";
  if (RANK[effective] >= RANK[row.need as Exclude<Need, "KEY" | "ROOT_ADMIN">])
    return ok;
  if (effective === "NONE") return row.hidden ?? "NOT_FOUND";
  return "FORBIDDEN";
}

let t: TestDatabase;
let app: App;
let http: FastifyInstance;
let dataDir: string;
const tokens = new Map<Level, string>();
let seq = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr
          ? resolve(addr.port)
          : reject(new Error("no free port")),
      );
    });
  });
}

function target(space: string): Target {
  const db = () => app.db;
  const now = new Date();
  const stack = async () => (await buildStack(db(), { space_id: space })).id;
  const context = async () => {
    const id = `mx-ctx-${ulid().toLowerCase()}`;
    await db()
      .insertInto("contexts")
      .values({
        id,
        name: id,
        space_id: space,
        hooks: JSON.stringify({}),
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  };
  const policy = async () => {
    const id = `mx-pol-${ulid().toLowerCase()}`;
    await db()
      .insertInto("policies")
      .values({
        id,
        name: id,
        type: "PLAN",
        body: 'package spacelift\n\nimport rego.v1\n\ndeny contains "x" if input.x\n',
        space_id: space,
        engine_type: "REGO_V1",
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  };
  return {
    space,
    stack,
    context,
    policy,
    pool: async () => (await buildPool(db(), { space_id: space })).id,
    worker: async () => {
      const pool = await buildPool(db(), { space_id: space });
      // BUSY: draining it publishes nothing (the test starts no broker).
      const worker = await buildWorker(db(), {
        worker_pool_id: pool.id,
        status: "BUSY",
      });
      return { pool: pool.id, worker: worker.id };
    },
    integration: async () =>
      (
        await app.vcs.integrations.create(
          { kind: "user", id: "admin", name: "admin", admin: true },
          {
            name: `mx-vcs-${ulid().toLowerCase()}`,
            provider: "RAW_GIT",
            space,
          },
        )
      ).id,
    run: async (state = "FINISHED") => {
      const stackId = await stack();
      const run = `run_${ulid().toLowerCase()}`;
      await db()
        .insertInto("runs")
        .values({
          id: run,
          stack_id: stackId,
          type: "TRACKED",
          blocking: true,
          state,
          triggered_by: "admin",
        })
        .execute();
      return { stack: stackId, run };
    },
    childSpace: async () => {
      const id = `mx-sub-${ulid().toLowerCase()}`;
      await insertSpace(db(), id, space);
      return id;
    },
    attachment: async () => {
      const [c, s] = await Promise.all([context(), stack()]);
      const id = `ctxatt_${ulid().toLowerCase()}`;
      await db()
        .insertInto("context_attachments")
        .values({ id, context_id: c, stack_id: s, created_at: now })
        .execute();
      return id;
    },
    policyAttachment: async () => {
      const [p, s] = await Promise.all([policy(), stack()]);
      const id = `pat_${ulid().toLowerCase()}`;
      await db()
        .insertInto("policy_attachments")
        .values({ id, policy_id: p, stack_id: s, created_at: now })
        .execute();
      return id;
    },
    apiKey: async () => {
      const id = ulid();
      await db()
        .insertInto("api_keys")
        .values({
          id,
          name: `mx-k-${id}`,
          secret_hash: hashSecret(id),
          space_id: space,
          access_level: "READ",
        })
        .execute();
      return id;
    },
    unique: (prefix) => `${prefix}-${++seq}`,
  };
}

// Each cell comes from its own client address, so the per-address login failure
// limit (apiKeyUser) judges one cell, not the whole matrix.
let cellCount = 0;

async function call(
  row: MatrixRow,
  field: string,
  level: Level | null,
  space: string,
): Promise<Outcome> {
  const op = await row.op(target(space));
  const res = await http.inject({
    method: "POST",
    url: "/graphql",
    remoteAddress: `10.77.${(++cellCount >> 8) & 255}.${cellCount & 255}`,
    headers: {
      "content-type": "application/json",
      ...(level ? { authorization: `Bearer ${tokens.get(level)}` } : {}),
    },
    payload: { query: op.query, variables: op.variables ?? {} },
  });
  const body = res.json() as {
    data?: Record<string, unknown> | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code ?? "INTERNAL";
    return code === "INTERNAL" ||
      code === "INTERNAL_SERVER_ERROR" ||
      code === "GRAPHQL_VALIDATION_FAILED"
      ? (`${code}: ${error.message}` as Outcome)
      : (code as Outcome);
  }
  const data = body.data?.[field];
  if (row.lists && op.item !== undefined)
    return row.lists(data, op.item) ? "data" : "missing";
  return data === null ? "null" : "data";
}

beforeAll(async () => {
  t = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), "stackyard-matrix-"));
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const config = loadConfig({
    env: {
      STACKYARD_LOG_LEVEL: "error",
      STACKYARD_BIND_ADDRESS: "127.0.0.1",
      STACKYARD_MQTT_PORT: String(await freePort()),
      ENCRYPTION_RSA_PRIVATE_KEY: Buffer.from(
        privateKey.export({ type: "pkcs1", format: "pem" }),
      ).toString("base64"),
    },
    cwd: dataDir,
  });
  app = await createApp(config, { databaseUrl: t.url, log: silentLog });
  // The real built-in broker, so pool and worker mutations publish as they do live.
  await app.broker?.start();
  await app.transport.start();
  http = Fastify();
  await registerGraphQL(http, {
    auth: app.auth,
    log: silentLog,
    resolvers: apiResolvers(app),
  });
  await http.ready();
  await insertSpace(app.db, "mx-par", "root", { inherit: true });
  await insertSpace(app.db, "mx-own", "mx-par", { inherit: true });
  await insertSpace(app.db, "mx-kid", "mx-own", { inherit: true });
  await insertSpace(app.db, "mx-sib", "mx-par", { inherit: true });
  // Each key holds its level through a role binding of the built-in Space Reader,
  // Writer or Admin role in mx-own (no legacy single-space level).
  for (const level of LEVELS) {
    const id = ulid();
    await app.db
      .insertInto("api_keys")
      .values({
        id,
        name: `mx-${level.toLowerCase()}`,
        secret_hash: hashSecret(id),
        space_id: "root",
        access_level: null,
      })
      .execute();
    await app.db
      .insertInto("role_bindings")
      .values({
        id: `rb_mx_${level.toLowerCase()}`,
        role_id: BUILT_IN_ROLE[level],
        space_id: "mx-own",
        api_key_id: id,
      })
      .execute();
    tokens.set(level, (await app.auth.exchangeApiKey(id, id)).token);
  }
}, 120_000);

afterAll(async () => {
  await http?.close();
  await app?.transport.stop();
  await app?.broker?.stop();
  await app?.close();
  await t?.destroy();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("authorization matrix", () => {
  it("classifies every Query and Mutation root field", async () => {
    const schema = buildSchema(await readFile(SCHEMA, "utf8"));
    const fields = [schema.getQueryType(), schema.getMutationType()].flatMap(
      (type) => Object.keys(type?.getFields() ?? {}),
    );
    const unclassified = fields.filter((f) => !(f in MATRIX));
    expect(
      unclassified,
      "root fields without a row in authorization-matrix.ts",
    ).toEqual([]);
    const stale = Object.keys(MATRIX).filter((f) => !fields.includes(f));
    expect(stale, "rows for fields the schema no longer has").toEqual([]);
  });

  it("answers every cell as the table says", async () => {
    const mismatches: string[] = [];
    for (const [field, row] of Object.entries(MATRIX)) {
      for (const level of [null, ...LEVELS] as const) {
        for (const relation of Object.keys(RELATIONS) as Relation[]) {
          if (level === null && relation !== "own") continue;
          const want = expected(row, level, relation);
          const got = await call(row, field, level, RELATIONS[relation]);
          if (got !== want)
            mismatches.push(
              `${field} as ${level ?? "anonymous"} on ${relation}: expected ${want}, got ${got}`,
            );
        }
      }
    }
    expect(mismatches).toEqual([]);
  }, 600_000);
});
