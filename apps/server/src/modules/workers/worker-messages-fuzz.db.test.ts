import { Writable } from "node:stream";
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/db.ts";
import { createWorkerService, type WorkerService } from "./worker-service.ts";

/**
 * Fuzzes the server's worker message handler with what a launcher holding a pool
 * credential could publish: messages shaped like the protocol's with random field
 * values (NUL characters, huge strings, wrong types), arbitrary JSON, and bytes that
 * are not JSON. Every message is handled or dropped with a warning; none makes the
 * handler fail (an error log) or throw.
 */

const NS = "stackyard";
let t: TestDatabase;
let service: WorkerService;
let poolId: string;
const errors: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line.includes('"level":50') || line.includes('"level":60'))
          errors.push(line.slice(0, 800));
      done();
    },
  });
  service = createWorkerService({
    db: t.db,
    transport: { publish: async () => {}, subscribe: async () => {} },
    clock: () => new Date(),
    log: pino({ level: "warn" }, sink),
    heartbeatTimeoutSeconds: 30,
    namespace: NS,
    serverUrl: "https://stackyard.example.com",
    brokerEndpoint: "127.0.0.1:1984",
  });
  ({
    pool: { id: poolId },
  } = await service.createPool({ name: "fuzz", spaceId: "root" }));
});
afterAll(async () => {
  await t?.destroy();
});

const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.constantFrom(
    "",
    "\u0000",
    "a\u0000b",
    "x".repeat(70_000),
    "run_01",
    "IDLE",
  ),
);
const anyValue = fc.oneof(
  text,
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.json(),
);
const workerId = fc.constantFrom("wkr_1", "wkr_2", "wkr_3");

const message = fc.oneof(
  fc.record({
    v: fc.oneof(fc.constant(1), anyValue),
    type: fc.constant("worker.register"),
    workerId,
    poolId: fc.oneof(fc.constant("POOL"), text),
    version: fc.oneof(text, anyValue),
    metadata: fc.oneof(fc.dictionary(text, text, { maxKeys: 4 }), anyValue),
  }),
  fc.record({
    v: fc.constant(1),
    type: fc.constant("worker.heartbeat"),
    workerId,
    status: fc.oneof(fc.constantFrom("IDLE", "BUSY", "DRAINED"), text),
    runId: fc.oneof(text, fc.constant(null)),
    sentAt: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      text,
    ),
  }),
  fc.record({
    v: fc.constant(1),
    type: fc.constant("worker.unregister"),
    workerId,
    reason: fc.oneof(text, anyValue),
  }),
  fc.dictionary(
    fc.constantFrom("v", "type", "workerId", "poolId", "x"),
    anyValue,
  ),
);

const payload = fc.oneof(
  { weight: 8, arbitrary: message.map((m) => JSON.stringify(m)) },
  { weight: 1, arbitrary: fc.json() },
  {
    weight: 1,
    arbitrary: fc
      .uint8Array({ maxLength: 64 })
      .map((b) => Buffer.from(b).toString("latin1")),
  },
);

describe("worker messages under random input", () => {
  it("handles or drops every message without failing", async () => {
    await fc.assert(
      fc.asyncProperty(workerId, payload, async (id, body) => {
        const text = body.replace("POOL", poolId);
        await expect(
          service.handleMessage(
            `${NS}/writeonly/${poolId}/${id}`,
            Buffer.from(text, "latin1"),
          ),
        ).resolves.toBeUndefined();
        expect(errors).toEqual([]);
      }),
      { numRuns: 5000, interruptAfterTimeLimit: 15_000 },
    );
  }, 60_000);
});
