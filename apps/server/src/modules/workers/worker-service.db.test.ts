import {
  decodePoolToken,
  parseServerMessage,
  type ServerMessage,
  type WorkerMessage,
} from "@stackyard/protocol";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import type { WorkerTransport } from "../../platform/broker/worker-transport.ts";
import { workerJobs } from "./worker-jobs.ts";
import { claimIdleWorker } from "./worker-repo.ts";
import { createWorkerService, type WorkerService } from "./worker-service.ts";

const NS = "stackyard";
const log = pino({ level: "silent" });

/** Records what the service publishes and lets the test deliver worker messages. */
class FakeTransport implements Pick<WorkerTransport, "publish" | "subscribe"> {
  sent: { topic: string; msg: ServerMessage }[] = [];
  handler: ((topic: string, payload: Buffer) => void) | null = null;
  filter = "";

  async publish(topic: string, payload: unknown): Promise<void> {
    const parsed = parseServerMessage(payload as Buffer);
    if (!parsed.ok) throw new Error(parsed.error);
    this.sent.push({ topic, msg: parsed.msg });
  }

  async subscribe(
    filter: string,
    handler: (topic: string, payload: Buffer) => void,
  ): Promise<void> {
    this.filter = filter;
    this.handler = handler;
  }
}

let t: TestDatabase;
let transport: FakeTransport;
let service: WorkerService;
let now: Date;
let poolId: string;
let credential: string;

// A fresh database per test: expiry is global, so tests must not see each other's workers.
beforeEach(async () => {
  t = await createTestDatabase();
});
afterEach(async () => {
  await t?.destroy();
});

beforeEach(async () => {
  transport = new FakeTransport();
  now = new Date("2025-01-01T00:00:00Z");
  service = createWorkerService({
    db: t.db,
    transport,
    clock: () => now,
    log,
    heartbeatTimeoutSeconds: 30,
    namespace: NS,
    serverUrl: "https://stackyard.example.com",
    brokerEndpoint: "127.0.0.1:1984",
  });
  ({
    pool: { id: poolId },
    credential,
  } = await service.createPool({ name: "pool", spaceId: "root" }));
});

const w2s = (workerId: string, pool = poolId) =>
  `${NS}/writeonly/${pool}/${workerId}`;
const s2w = (workerId: string, pool = poolId) =>
  `${NS}/readonly/${pool}/${workerId}`;
const bytes = (msg: WorkerMessage | Record<string, unknown>) =>
  Buffer.from(JSON.stringify(msg));

function registerMsg(workerId: string, pool = poolId): WorkerMessage {
  return {
    v: 1,
    type: "worker.register",
    workerId,
    poolId: pool,
    version: "0.1.0",
    metadata: { zone: "eu" },
  };
}
function heartbeatMsg(
  workerId: string,
  status: "IDLE" | "BUSY" | "DRAINED" = "IDLE",
): WorkerMessage {
  return {
    v: 1,
    type: "worker.heartbeat",
    workerId,
    status,
    sentAt: new Date().toISOString(),
  };
}

describe("pools and credentials", () => {
  it("refuses a space that does not exist as a client error naming space", async () => {
    await expect(
      service.createPool({ name: "p", spaceId: "no-such-space" }),
    ).rejects.toMatchObject({
      code: "BAD_USER_INPUT",
      message: "space: no space no-such-space exists",
    });
  });

  it("creates a pool with a token that decodes to its credential", async () => {
    const issued = await service.createPool({
      name: "  eu workers ",
      spaceId: "root",
    });
    expect(issued.pool.id).toMatch(/^wp_[0-9a-z]{26}$/);
    expect(issued.pool.name).toBe("eu workers");
    expect(decodePoolToken(issued.token)).toEqual({
      serverUrl: "https://stackyard.example.com",
      brokerEndpoint: "mqtt://127.0.0.1:1984",
      poolId: issued.pool.id,
      credential: issued.credential,
      namespace: NS,
    });
    await expect(
      service.createPool({ name: " ", spaceId: "root" }),
    ).rejects.toThrow("a worker pool needs a name");
  });

  it("authenticates the pool credential and nothing else", async () => {
    expect(await service.authenticate(poolId, credential)).toEqual({ poolId });
    expect(await service.authenticate(poolId, `${credential}x`)).toBeNull();
    expect(await service.authenticate(poolId, "")).toBeNull();
    expect(await service.authenticate("wp_missing", credential)).toBeNull();
  });

  it("re-issues the default pool's credential on every ensureDefaultPool", async () => {
    const first = await service.ensureDefaultPool();
    const second = await service.ensureDefaultPool();
    expect(second.pool.id).toBe(first.pool.id);
    expect(first.pool).toMatchObject({ name: "default", isDefault: true });
    expect(
      await service.authenticate(first.pool.id, first.credential),
    ).toBeNull();
    expect(
      await service.authenticate(second.pool.id, second.credential),
    ).toEqual({ poolId: second.pool.id });
    expect(await service.poolExists(first.pool.id)).toBe(true);
  });

  it("resets a pool token", async () => {
    const reset = await service.resetPoolToken(poolId);
    expect(await service.authenticate(poolId, credential)).toBeNull();
    expect(await service.authenticate(poolId, reset.credential)).toEqual({
      poolId,
    });
    await expect(service.resetPoolToken("wp_missing")).rejects.toThrow(
      "worker pool wp_missing does not exist",
    );
  });
});

describe("worker messages", () => {
  it("subscribes to every worker's writeonly topic on start", async () => {
    await service.start();
    expect(transport.filter).toBe(`${NS}/writeonly/+/+`);
    transport.handler?.(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    await service.stop();
    expect(await service.listWorkers(poolId)).toHaveLength(1);
  });

  it("registers a worker and answers with the heartbeat interval", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    expect(transport.sent).toEqual([
      {
        topic: s2w("wkr_1"),
        msg: {
          v: 1,
          type: "worker.registered",
          workerId: "wkr_1",
          heartbeatIntervalSeconds: 10,
        },
      },
    ]);
    expect(await service.listWorkers(poolId)).toMatchObject([
      { id: "wkr_1", status: "IDLE", metadata: { zone: "eu" } },
    ]);
  });

  it("handles one worker's messages in order", async () => {
    // Fired without awaiting: the heartbeat must not overtake the register.
    const done = [
      service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1"))),
      service.handleMessage(w2s("wkr_1"), bytes(heartbeatMsg("wkr_1", "BUSY"))),
    ];
    await Promise.all(done);
    expect(transport.sent.map((s) => s.msg.type)).toEqual([
      "worker.registered",
    ]);
    expect(await service.listWorkers(poolId)).toMatchObject([
      { status: "BUSY" },
    ]);
  });

  it("does not hand a run to a worker that re-registers while it still executes one", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    // The worker was expired during an outage (its run failed with it) and registers
    // again while its launcher still finishes that run.
    await service.expireWorkers(new Date(now.getTime() + 60_000));
    await service.handleMessage(
      w2s("wkr_1"),
      bytes({ ...registerMsg("wkr_1"), status: "BUSY" }),
    );
    expect(await service.listWorkers(poolId)).toMatchObject([
      { id: "wkr_1", status: "BUSY", currentRunId: null },
    ]);
    expect(await claimIdleWorker(t.db, poolId, "run_next")).toBeNull();
    // Its heartbeat says it is free: now it takes runs again.
    await service.handleMessage(w2s("wkr_1"), bytes(heartbeatMsg("wkr_1")));
    expect(await claimIdleWorker(t.db, poolId, "run_next")).toEqual({
      id: "wkr_1",
    });
  });

  it("asks an unknown or expired worker to re-register", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(heartbeatMsg("wkr_1")));
    expect(transport.sent).toEqual([
      { topic: s2w("wkr_1"), msg: { v: 1, type: "worker.reregister" } },
    ]);
  });

  it("drops messages whose body names another worker or pool, and garbage", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_2")));
    await service.handleMessage(
      w2s("wkr_1"),
      bytes(registerMsg("wkr_1", "wp_other")),
    );
    await service.handleMessage(w2s("wkr_1"), Buffer.from("{not json"));
    await service.handleMessage(
      w2s("wkr_1"),
      bytes({ v: 2, type: "worker.register" }),
    );
    await service.handleMessage(
      `${NS}/readonly/${poolId}/wkr_1`,
      bytes(registerMsg("wkr_1")),
    );
    await service.handleMessage("elsewhere/topic", bytes(registerMsg("wkr_1")));
    expect(transport.sent).toEqual([]);
    expect(await service.listWorkers(poolId, { includeGone: true })).toEqual(
      [],
    );
  });

  it("logs and survives a register for a pool that does not exist", async () => {
    await expect(
      service.handleMessage(
        w2s("wkr_1", "wp_missing"),
        bytes(registerMsg("wkr_1", "wp_missing")),
      ),
    ).resolves.toBeUndefined();
    expect(transport.sent).toEqual([]);
  });

  it("marks an unregistering worker GONE", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    await service.handleMessage(
      w2s("wkr_1"),
      bytes({
        v: 1,
        type: "worker.unregister",
        workerId: "wkr_1",
        reason: "SIGTERM",
      }),
    );
    expect(await service.listWorkers(poolId)).toEqual([]);
    expect(
      await service.listWorkers(poolId, { includeGone: true }),
    ).toMatchObject([{ status: "GONE", goneReason: "unregistered: SIGTERM" }]);
  });
});

describe("expiry", () => {
  it("expires workers silent for longer than the timeout, through the job too", async () => {
    await service.handleMessage(w2s("wkr_old"), bytes(registerMsg("wkr_old")));
    now = new Date(now.getTime() + 20_000);
    await service.handleMessage(w2s("wkr_new"), bytes(registerMsg("wkr_new")));
    expect(
      await service.expireWorkers(new Date(now.getTime() + 15_000)),
    ).toEqual(["wkr_old"]);
    expect(
      await service.expireWorkers(new Date(now.getTime() + 15_000)),
    ).toEqual([]);

    // The heartbeat of an expired worker gets a reregister, and registering revives it.
    transport.sent = [];
    await service.handleMessage(w2s("wkr_old"), bytes(heartbeatMsg("wkr_old")));
    expect(transport.sent.map((s) => s.msg.type)).toEqual([
      "worker.reregister",
    ]);
    await service.handleMessage(w2s("wkr_old"), bytes(registerMsg("wkr_old")));
    expect((await service.listWorkers(poolId)).map((w) => w.id).sort()).toEqual(
      ["wkr_new", "wkr_old"],
    );

    // The job uses the wall clock: far in the future of `now`, so everything expires.
    const job = workerJobs(service)["workers.expire"]!;
    expect(job.schema.safeParse({}).success).toBe(true);
    await job.handler({}, { jobId: "1", attempt: 1, log });
    expect(await service.listWorkers(poolId)).toEqual([]);
  });
});

describe("expiry after a restart", () => {
  it("expires nothing until the workers had one timeout to reconnect to the new server", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    // The server was down for 10 min; a new one starts now.
    now = new Date(now.getTime() + 600_000);
    const restarted = createWorkerService({
      db: t.db,
      transport,
      clock: () => now,
      log,
      heartbeatTimeoutSeconds: 30,
      namespace: NS,
      serverUrl: "https://stackyard.example.com",
      brokerEndpoint: "127.0.0.1:1984",
    });
    expect(
      await restarted.expireWorkers(new Date(now.getTime() + 29_000)),
    ).toEqual([]);
    expect(
      await restarted.expireWorkers(new Date(now.getTime() + 31_000)),
    ).toEqual(["wkr_1"]);
  });
});

describe("drain and cycle", () => {
  it("drains a worker, re-sends a lost drain, and remembers it across re-registers", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    transport.sent = [];
    expect(await service.setWorkerDrained(poolId, "wkr_1", true)).toMatchObject(
      { drained: true, status: "DRAINED" },
    );
    expect(transport.sent).toEqual([
      {
        topic: s2w("wkr_1"),
        msg: { v: 1, type: "worker.drain", drained: true },
      },
    ]);

    transport.sent = [];
    await service.handleMessage(
      w2s("wkr_1"),
      bytes(heartbeatMsg("wkr_1", "IDLE")),
    );
    expect(transport.sent.map((s) => s.msg)).toEqual([
      { v: 1, type: "worker.drain", drained: true },
    ]);

    transport.sent = [];
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    expect(transport.sent.map((s) => s.msg.type)).toEqual([
      "worker.registered",
      "worker.drain",
    ]);

    await expect(
      service.setWorkerDrained(poolId, "wkr_nope", true),
    ).rejects.toThrow("worker wkr_nope does not exist");
  });

  it("cycles every live worker of a pool", async () => {
    await service.handleMessage(w2s("wkr_1"), bytes(registerMsg("wkr_1")));
    await service.handleMessage(w2s("wkr_2"), bytes(registerMsg("wkr_2")));
    transport.sent = [];
    expect((await service.cyclePool(poolId)).sort()).toEqual([
      "wkr_1",
      "wkr_2",
    ]);
    expect(transport.sent.map((s) => s.msg.type)).toEqual([
      "worker.cycle",
      "worker.cycle",
    ]);
  });
});
