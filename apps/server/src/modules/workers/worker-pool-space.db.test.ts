import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildPool, buildWorker } from "../../../test/factories.ts";
import {
  ADMIN,
  apiKeySession,
  insertSpace,
} from "../../../test/stacks-fixtures.ts";
import type { GraphQLContext } from "../../api/graphql.ts";
import type { Session } from "../auth/index.ts";
import { createSpaceAccess } from "../stacks/index.ts";
import { createWorkerService } from "./worker-service.ts";
import { workerResolvers, type WorkerPoolNode } from "./worker-resolvers.ts";

// A pool is reachable as `Stack.workerPool` by readers of a stack in a space below the
// pool's (a stack in an inheriting child uses its parent's pool); its workers and load
// are the pool space's business.

let t: TestDatabase;
type FieldResolver = (
  parent: WorkerPoolNode,
  args: unknown,
  ctx: GraphQLContext,
) => Promise<unknown>;
let fields: Record<"workers" | "busyWorkers" | "pendingRuns", FieldResolver>;

beforeAll(async () => {
  t = await createTestDatabase();
  const workers = createWorkerService({
    db: t.db,
    transport: { publish: async () => {}, subscribe: async () => {} },
    clock: () => new Date(),
    log: pino({ level: "silent" }),
    heartbeatTimeoutSeconds: 30,
    namespace: "stackyard",
    serverUrl: "https://stackyard.example.com",
    brokerEndpoint: "127.0.0.1:1984",
  });
  const resolvers = workerResolvers({
    workers,
    runs: {
      pendingRuns: async () => 3,
      stackIdOfRun: () => Promise.reject(new Error("not used")),
      getRun: () => Promise.reject(new Error("not used")),
    },
    access: createSpaceAccess(t.db),
  });
  fields = resolvers.WorkerPool as unknown as typeof fields;
});
afterAll(async () => {
  await t?.destroy();
});

const ctx = (session: Session): GraphQLContext =>
  ({ session, log: pino({ level: "silent" }), headers: {} }) as GraphQLContext;

describe("WorkerPool fields", () => {
  it("show a pool's workers and load only to readers of the pool's space", async () => {
    await insertSpace(t.db, "wps-child", "root", { inherit: true });
    const pool = await buildPool(t.db, { space_id: "root" });
    await buildWorker(t.db, { worker_pool_id: pool.id, status: "BUSY" });
    const node: WorkerPoolNode = {
      id: pool.id,
      name: pool.name,
      description: null,
      labels: [],
      space: "root",
    };
    const childReader = await apiKeySession(t.db, {
      spaceId: "wps-child",
      level: "READ",
    });
    expect(await fields.workers(node, {}, ctx(childReader))).toEqual([]);
    expect(await fields.busyWorkers(node, {}, ctx(childReader))).toBe(0);
    expect(await fields.pendingRuns(node, {}, ctx(childReader))).toBe(0);

    expect(await fields.workers(node, {}, ctx(ADMIN))).toHaveLength(1);
    expect(await fields.busyWorkers(node, {}, ctx(ADMIN))).toBe(1);
    expect(await fields.pendingRuns(node, {}, ctx(ADMIN))).toBe(3);
  });
});
