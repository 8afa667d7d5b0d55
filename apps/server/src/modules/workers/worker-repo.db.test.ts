import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import {
  findOrCreateDefaultPool,
  findWorkerPoolById,
  insertWorkerPool,
} from "./worker-pool-repo.ts";
import {
  listWorkersByPool,
  markWorkerGone,
  markWorkersGone,
  recordHeartbeat,
  setWorkerDrained,
  upsertRegisteredWorker,
} from "./worker-repo.ts";

let t: TestDatabase;
const t0 = new Date("2025-01-01T00:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);

// A fresh database per test: expiry is global, so tests must not see each other's workers.
beforeEach(async () => {
  t = await createTestDatabase();
});
afterEach(async () => {
  await t?.destroy();
});

let n = 0;
let pool: string;
beforeEach(async () => {
  pool = `wp_test${++n}`;
  await insertWorkerPool(t.db, {
    id: pool,
    name: `pool ${n}`,
    spaceId: "root",
    tokenHash: "x",
  });
});

function register(id: string, now = t0, poolId = pool) {
  return upsertRegisteredWorker(t.db, {
    id,
    poolId,
    metadata: { zone: "a" },
    version: "1.0.0",
    now,
  });
}

describe("worker pools", () => {
  it("creates the default pool once, even when asked concurrently", async () => {
    const results = await Promise.all(
      [1, 2, 3].map((i) =>
        findOrCreateDefaultPool(t.db, { id: `wp_default${i}`, tokenHash: "h" }),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.pool.id)).size).toBe(1);
    expect(results[0]?.pool).toMatchObject({
      name: "default",
      isDefault: true,
      spaceId: "root",
    });
    expect(await findWorkerPoolById(t.db, results[0]!.pool.id)).toEqual(
      results[0]?.pool,
    );
  });
});

describe("workers", () => {
  it("registers a worker as IDLE with its metadata", async () => {
    const w = await register("wkr_1");
    expect(w).toMatchObject({
      id: "wkr_1",
      poolId: pool,
      status: "IDLE",
      drained: false,
      metadata: { zone: "a" },
      version: "1.0.0",
      lastHeartbeatAt: t0,
      goneAt: null,
    });
  });

  it("records heartbeats with the reported status", async () => {
    await register("wkr_1");
    expect(
      await recordHeartbeat(t.db, {
        id: "wkr_1",
        poolId: pool,
        status: "BUSY",
        now: at(5),
      }),
    ).toEqual({ drained: false });
    const [w] = await listWorkersByPool(t.db, pool);
    expect(w).toMatchObject({ status: "BUSY", lastHeartbeatAt: at(5) });
  });

  it("refuses heartbeats from unknown workers, other pools and GONE workers", async () => {
    await register("wkr_1");
    expect(
      await recordHeartbeat(t.db, {
        id: "wkr_nope",
        poolId: pool,
        status: "IDLE",
        now: at(1),
      }),
    ).toBeNull();
    expect(
      await recordHeartbeat(t.db, {
        id: "wkr_1",
        poolId: "wp_other",
        status: "IDLE",
        now: at(1),
      }),
    ).toBeNull();
    expect(
      await markWorkerGone(t.db, {
        id: "wkr_1",
        poolId: pool,
        reason: "bye",
        now: at(2),
      }),
    ).toBe(true);
    expect(
      await markWorkerGone(t.db, {
        id: "wkr_1",
        poolId: pool,
        reason: "bye",
        now: at(2),
      }),
    ).toBe(false);
    expect(
      await recordHeartbeat(t.db, {
        id: "wkr_1",
        poolId: pool,
        status: "IDLE",
        now: at(3),
      }),
    ).toBeNull();
  });

  it("expires only live workers older than the cutoff", async () => {
    await register("wkr_old", t0);
    await register("wkr_new", at(50));
    expect(
      await markWorkersGone(t.db, {
        olderThan: at(30),
        reason: "silent",
        now: at(60),
      }),
    ).toEqual(["wkr_old"]);
    expect(
      await markWorkersGone(t.db, {
        olderThan: at(30),
        reason: "silent",
        now: at(61),
      }),
    ).toEqual([]);
    expect((await listWorkersByPool(t.db, pool)).map((w) => w.id)).toEqual([
      "wkr_new",
    ]);
    const all = await listWorkersByPool(t.db, pool, { includeGone: true });
    expect(all.find((w) => w.id === "wkr_old")).toMatchObject({
      status: "GONE",
      goneAt: at(60),
      goneReason: "silent",
    });
  });

  it("revives a GONE worker on re-register and keeps the drained flag", async () => {
    await register("wkr_1");
    await setWorkerDrained(t.db, { id: "wkr_1", poolId: pool, drained: true });
    await markWorkerGone(t.db, {
      id: "wkr_1",
      poolId: pool,
      reason: "bye",
      now: at(1),
    });
    const w = await register("wkr_1", at(10));
    expect(w).toMatchObject({
      status: "DRAINED",
      drained: true,
      goneAt: null,
      goneReason: null,
      registeredAt: at(10),
      lastHeartbeatAt: at(10),
    });
  });

  it("does not let another pool take over a worker id", async () => {
    await register("wkr_1");
    const other = `${pool}_other`;
    await insertWorkerPool(t.db, {
      id: other,
      name: "other",
      spaceId: "root",
      tokenHash: "y",
    });
    expect(await register("wkr_1", at(1), other)).toBeNull();
    expect(await listWorkersByPool(t.db, pool)).toHaveLength(1);
  });

  it("drains an idle worker at once and leaves a busy one BUSY", async () => {
    await register("wkr_idle");
    await register("wkr_busy");
    await recordHeartbeat(t.db, {
      id: "wkr_busy",
      poolId: pool,
      status: "BUSY",
      now: at(1),
    });
    expect(
      await setWorkerDrained(t.db, {
        id: "wkr_idle",
        poolId: pool,
        drained: true,
      }),
    ).toMatchObject({ status: "DRAINED", drained: true });
    expect(
      await setWorkerDrained(t.db, {
        id: "wkr_busy",
        poolId: pool,
        drained: true,
      }),
    ).toMatchObject({ status: "BUSY", drained: true });
    expect(
      await setWorkerDrained(t.db, {
        id: "wkr_idle",
        poolId: pool,
        drained: false,
      }),
    ).toMatchObject({ status: "IDLE", drained: false });
    expect(
      await setWorkerDrained(t.db, {
        id: "wkr_nope",
        poolId: pool,
        drained: true,
      }),
    ).toBeNull();
  });
});
