import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { buildPool, buildStack, buildWorker } from "../../../test/factories.ts";
import { createWorkerService, type WorkerService } from "./worker-service.ts";

let t: TestDatabase;
let service: WorkerService;

beforeAll(async () => {
  t = await createTestDatabase();
  service = createWorkerService({
    db: t.db,
    transport: { publish: async () => {}, subscribe: async () => {} },
    clock: () => new Date(),
    log: pino({ level: "silent" }),
    heartbeatTimeoutSeconds: 30,
    namespace: "stackyard",
    serverUrl: "https://stackyard.example.com",
    brokerEndpoint: "127.0.0.1:1984",
  });
});
afterAll(async () => {
  await t?.destroy();
});

async function insertRun(poolId: string, stackId: string, state: string) {
  const id = `run_${Math.random().toString(36).slice(2)}`;
  await t.db
    .insertInto("runs")
    .values({
      id,
      stack_id: stackId,
      type: "PROPOSED",
      blocking: false,
      state,
      worker_pool_id: poolId,
    })
    .execute();
  return id;
}

describe("worker pool administration", () => {
  it("updates a pool's name, description, labels and space, and lists pools by space", async () => {
    const { pool } = await service.createPool({
      name: "build",
      spaceId: "root",
    });
    const updated = await service.updatePool(pool.id, {
      name: " builders ",
      description: "x86 builders",
      labels: ["x86"],
      spaceId: "root",
    });
    expect(updated).toMatchObject({
      id: pool.id,
      name: "builders",
      description: "x86 builders",
      labels: ["x86"],
    });
    expect((await service.listPools("all")).map((p) => p.id)).toContain(
      pool.id,
    );
    expect(await service.listPools([])).toEqual([]);
    await expect(
      service.updatePool("wp_missing", { name: "x", spaceId: "root" }),
    ).rejects.toThrow("worker pool wp_missing does not exist");
    await expect(
      service.updatePool(pool.id, { name: " ", spaceId: "root" }),
    ).rejects.toThrow("needs a name");
  });

  it("refuses to delete the default pool, a pool stacks use, or a pool with runs not ended", async () => {
    const fallback = await buildPool(t.db, { is_default: true });
    await expect(service.deletePool(fallback.id)).rejects.toThrow(
      "it is the default pool",
    );

    const pool = await buildPool(t.db);
    const stack = await buildStack(t.db, { worker_pool_id: pool.id });
    await expect(service.deletePool(pool.id)).rejects.toThrow(
      `stacks use it (${stack.id})`,
    );

    const other = await buildStack(t.db);
    await t.db
      .updateTable("stacks")
      .set({ worker_pool_id: null })
      .where("id", "=", stack.id)
      .execute();
    const running = await insertRun(pool.id, other.id, "PLANNING");
    await expect(service.deletePool(pool.id)).rejects.toThrow(
      `runs have not ended yet (${running})`,
    );
  });

  it("deletes a pool with its workers, detaching its ended runs", async () => {
    const pool = await buildPool(t.db);
    await buildWorker(t.db, { worker_pool_id: pool.id });
    const stack = await buildStack(t.db);
    const ended = await insertRun(pool.id, stack.id, "FINISHED");
    expect(await service.deletePool(pool.id)).toMatchObject({ id: pool.id });
    expect(await service.getPool(pool.id)).toBeNull();
    expect(await service.listWorkers(pool.id, { includeGone: true })).toEqual(
      [],
    );
    const run = await t.db
      .selectFrom("runs")
      .select("worker_pool_id")
      .where("id", "=", ended)
      .executeTakeFirstOrThrow();
    expect(run.worker_pool_id).toBeNull();
  });
});
