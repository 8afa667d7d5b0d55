import { describe, expect, it } from "vitest";
import {
  encodeMessage,
  parseServerMessage,
  parseWorkerMessage,
  type WorkerMessage,
} from "./messages.ts";

const register: WorkerMessage = {
  v: 1,
  type: "worker.register",
  workerId: "wkr_01j0000000000000000000000",
  poolId: "wp_01j0000000000000000000000",
  version: "0.1.0",
  metadata: { zone: "eu-1" },
};

describe("parseWorkerMessage", () => {
  it("round-trips every worker message through encodeMessage", () => {
    const messages: WorkerMessage[] = [
      register,
      {
        v: 1,
        type: "worker.heartbeat",
        workerId: "wkr_1",
        status: "BUSY",
        runId: "run_1",
        sentAt: new Date().toISOString(),
      },
      {
        v: 1,
        type: "worker.heartbeat",
        workerId: "wkr_1",
        status: "IDLE",
        sentAt: new Date().toISOString(),
      },
      { v: 1, type: "worker.unregister", workerId: "wkr_1", reason: "SIGTERM" },
    ];
    for (const msg of messages) {
      expect(parseWorkerMessage(encodeMessage(msg))).toEqual({ ok: true, msg });
    }
  });

  it("rejects bad JSON with a clear error", () => {
    const res = parseWorkerMessage(Buffer.from("{nope"));
    expect(res).toMatchObject({
      ok: false,
      error: expect.stringContaining("not valid JSON"),
    });
  });

  it("rejects non-objects", () => {
    expect(parseWorkerMessage("[1]")).toEqual({
      ok: false,
      error: "message must be a JSON object",
    });
    expect(parseWorkerMessage("null")).toEqual({
      ok: false,
      error: "message must be a JSON object",
    });
  });

  it("rejects another protocol version and names both", () => {
    const res = parseWorkerMessage(JSON.stringify({ ...register, v: 2 }));
    expect(res).toMatchObject({
      ok: false,
      error: expect.stringContaining("unsupported protocol version 2"),
    });
  });

  it("rejects unknown types and server messages on the worker channel", () => {
    const res = parseWorkerMessage(
      JSON.stringify({ v: 1, type: "worker.cycle" }),
    );
    expect(res).toMatchObject({
      ok: false,
      error: expect.stringContaining('unknown message type "worker.cycle"'),
    });
  });

  it("names the offending field", () => {
    const res = parseWorkerMessage(
      JSON.stringify({
        v: 1,
        type: "worker.heartbeat",
        workerId: "w/1",
        status: "GONE",
      }),
    );
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.error).toContain("invalid worker.heartbeat message");
    expect(res.error).toContain("workerId:");
    expect(res.error).toContain("status:");
    expect(res.error).toContain("sentAt:");
  });

  it("rejects metadata values that are not strings", () => {
    const res = parseWorkerMessage(
      JSON.stringify({ ...register, metadata: { n: 1 } }),
    );
    expect(res).toMatchObject({
      ok: false,
      error: expect.stringContaining("metadata.n"),
    });
  });
});

describe("parseServerMessage", () => {
  it("parses every server message", () => {
    expect(
      parseServerMessage(
        JSON.stringify({
          v: 1,
          type: "worker.registered",
          workerId: "w",
          heartbeatIntervalSeconds: 10,
        }),
      ),
    ).toMatchObject({ ok: true });
    expect(
      parseServerMessage(
        JSON.stringify({ v: 1, type: "worker.drain", drained: true }),
      ),
    ).toMatchObject({ ok: true });
    expect(
      parseServerMessage(JSON.stringify({ v: 1, type: "worker.cycle" })),
    ).toMatchObject({ ok: true });
    expect(
      parseServerMessage(JSON.stringify({ v: 1, type: "worker.reregister" })),
    ).toMatchObject({ ok: true });
  });

  it("rejects a drain without its flag", () => {
    const res = parseServerMessage(
      JSON.stringify({ v: 1, type: "worker.drain" }),
    );
    expect(res).toMatchObject({
      ok: false,
      error: expect.stringContaining("drained:"),
    });
  });

  it("never throws, whatever the bytes", () => {
    for (const input of [
      "",
      "\u0000\u00ff",
      "1",
      '"x"',
      '{"v":1}',
      '{"v":1,"type":{}}',
      Buffer.from([0xff, 0xfe]),
    ]) {
      expect(() => parseServerMessage(input)).not.toThrow();
      expect(parseServerMessage(input).ok).toBe(false);
    }
  });
});

describe("encodeMessage", () => {
  it("refuses to send an invalid message", () => {
    expect(() =>
      encodeMessage({ ...register, workerId: "a/b" } as WorkerMessage),
    ).toThrow(/invalid worker.register message: workerId/);
  });
});

describe("NUL characters in worker messages", () => {
  it("are refused with the path of the field, since Postgres cannot store them", () => {
    const parsed = parseWorkerMessage(
      JSON.stringify({
        v: 1,
        type: "worker.register",
        workerId: "wkr_1",
        poolId: "wp_1",
        version: "1",
        metadata: { zone: "e\u0000u" },
      }),
    );
    expect(parsed).toEqual({
      ok: false,
      error: "metadata.zone: must not contain NUL characters",
    });
  });
});
