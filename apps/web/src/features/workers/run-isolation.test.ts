import { describe, expect, it } from "vitest";
import { unsandboxedWorkers } from "./run-isolation.ts";

describe("unsandboxedWorkers", () => {
  it("lists live workers whose launcher has no sandbox", () => {
    const pools = [
      {
        name: "default",
        workers: [
          { id: "w1", metadata: '{"sandbox":"bubblewrap"}', status: "IDLE" },
          {
            id: "w2",
            metadata: '{"sandbox":"none (runs refused)"}',
            status: "IDLE",
          },
          {
            id: "w3",
            metadata: '{"sandbox":"none (runs unsandboxed)"}',
            status: "BUSY",
          },
          {
            id: "w4",
            metadata: '{"sandbox":"none (runs refused)"}',
            status: "GONE",
          },
          { id: "w5", metadata: "{}", status: "IDLE" },
          { id: "w6", metadata: "not json", status: "IDLE" },
        ],
      },
    ];
    expect(unsandboxedWorkers(pools)).toEqual([
      { poolName: "default", workerId: "w2", runsAllowed: false },
      { poolName: "default", workerId: "w3", runsAllowed: true },
    ]);
  });
});
