import { describe, expect, it } from "vitest";
import {
  compareRunOrder,
  pickRunnable,
  schedulingClass,
  type QueuedRunCandidate,
} from "./run-order.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");

function queued(
  id: string,
  minute: number,
  overrides: Partial<QueuedRunCandidate> = {},
): QueuedRunCandidate {
  return {
    id,
    stackId: "stk_a",
    type: "TRACKED",
    isDrift: false,
    prioritized: false,
    createdAt: new Date(T0 + minute * 60_000),
    workerPoolId: "wp_1",
    ...overrides,
  };
}

function snapshot(
  options: { active?: string[]; idle?: Record<string, number> } = {},
) {
  return {
    stacksWithActiveBlockingRun: new Set(options.active ?? []),
    idleWorkersByPool: new Map(Object.entries(options.idle ?? { wp_1: 100 })),
  };
}

function ids(runs: readonly QueuedRunCandidate[]): string[] {
  return runs.map((r) => r.id);
}

describe("scheduling order", () => {
  it("puts prioritized runs before everything else", () => {
    const runs = [
      queued("run_blocking", 1, { stackId: "stk_a" }),
      queued("run_drift", 2, {
        stackId: "stk_b",
        type: "PROPOSED",
        isDrift: true,
        prioritized: true,
      }),
    ];
    expect(ids([...runs].sort(compareRunOrder))).toEqual([
      "run_drift",
      "run_blocking",
    ]);
  });

  it("puts blocking runs before proposed runs, and proposed runs before drift detection", () => {
    const runs = [
      queued("run_drift", 1, { type: "PROPOSED", isDrift: true }),
      queued("run_proposed", 2, { type: "PROPOSED" }),
      queued("run_task", 3, { type: "TASK" }),
    ];
    expect(ids([...runs].sort(compareRunOrder))).toEqual([
      "run_task",
      "run_proposed",
      "run_drift",
    ]);
  });

  it("keeps runs of one class first in, first out", () => {
    const runs = [queued("run_c", 3), queued("run_a", 1), queued("run_b", 2)];
    expect(ids([...runs].sort(compareRunOrder))).toEqual([
      "run_a",
      "run_b",
      "run_c",
    ]);
  });

  it("breaks createdAt ties by id", () => {
    const runs = [queued("run_b", 1), queued("run_a", 1)];
    expect(ids([...runs].sort(compareRunOrder))).toEqual(["run_a", "run_b"]);
  });

  it("treats a drift run of a blocking type as a blocking run", () => {
    expect(schedulingClass({ type: "TRACKED", isDrift: true })).toBe(
      "blocking",
    );
    expect(schedulingClass({ type: "PROPOSED", isDrift: true })).toBe("drift");
    expect(schedulingClass({ type: "PROPOSED", isDrift: false })).toBe(
      "proposed",
    );
  });
});

describe("pickRunnable", () => {
  it("picks a queued blocking run when its stack is free", () => {
    expect(ids(pickRunnable([queued("run_1", 1)], snapshot()))).toEqual([
      "run_1",
    ]);
  });

  it("picks no blocking run for a stack that already has an active blocking run", () => {
    const runs = [
      queued("run_1", 1),
      queued("run_other", 2, { stackId: "stk_b" }),
    ];
    expect(ids(pickRunnable(runs, snapshot({ active: ["stk_a"] })))).toEqual([
      "run_other",
    ]);
  });

  it("picks at most one blocking run per stack, the oldest", () => {
    const runs = [
      queued("run_2", 2, { type: "DESTROY" }),
      queued("run_1", 1, { type: "TASK" }),
      queued("run_3", 3),
    ];
    expect(ids(pickRunnable(runs, snapshot()))).toEqual(["run_1"]);
  });

  it("never lets a later blocking run overtake an earlier one on the same stack, even if prioritized", () => {
    const runs = [
      queued("run_early", 1),
      queued("run_late", 2, { prioritized: true }),
    ];
    expect(ids(pickRunnable(runs, snapshot()))).toEqual(["run_early"]);
    expect(ids(pickRunnable(runs, snapshot({ idle: { wp_1: 1 } })))).toEqual([
      "run_early",
    ]);
  });

  it("lets a prioritized run overtake other stacks' runs", () => {
    const runs = [
      queued("run_a", 1, { stackId: "stk_a" }),
      queued("run_b", 2, { stackId: "stk_b", prioritized: true }),
    ];
    expect(ids(pickRunnable(runs, snapshot({ idle: { wp_1: 1 } })))).toEqual([
      "run_b",
    ]);
  });

  it("lets a prioritized proposed run overtake blocking runs when workers are scarce", () => {
    const runs = [
      queued("run_tracked", 1),
      queued("run_preview", 2, { type: "PROPOSED", prioritized: true }),
    ];
    expect(ids(pickRunnable(runs, snapshot({ idle: { wp_1: 1 } })))).toEqual([
      "run_preview",
    ]);
  });

  it("does not pick a later blocking run of a stack whose oldest blocking run is held", () => {
    const runs = [queued("run_held", 1, { held: true }), queued("run_next", 2)];
    expect(pickRunnable(runs, snapshot())).toEqual([]);
  });

  it("never picks a held run", () => {
    const runs = [
      queued("run_held", 1, { type: "PROPOSED", held: true }),
      queued("run_free", 2, { type: "PROPOSED" }),
    ];
    expect(ids(pickRunnable(runs, snapshot()))).toEqual(["run_free"]);
  });

  it("runs proposed runs of one stack in parallel", () => {
    const runs = [
      queued("run_1", 1, { type: "PROPOSED" }),
      queued("run_2", 2, { type: "PROPOSED" }),
    ];
    expect(ids(pickRunnable(runs, snapshot()))).toEqual(["run_1", "run_2"]);
  });

  it("runs proposed runs alongside the stack's active blocking run", () => {
    const runs = [
      queued("run_tracked", 1),
      queued("run_preview", 2, { type: "PROPOSED", isDrift: true }),
    ];
    expect(ids(pickRunnable(runs, snapshot({ active: ["stk_a"] })))).toEqual([
      "run_preview",
    ]);
  });

  it("never picks more runs for a pool than it has idle workers", () => {
    const runs = [1, 2, 3, 4].map((n) =>
      queued(`run_${n}`, n, { type: "PROPOSED" }),
    );
    expect(ids(pickRunnable(runs, snapshot({ idle: { wp_1: 2 } })))).toEqual([
      "run_1",
      "run_2",
    ]);
  });

  it("picks nothing for a pool without idle workers or missing from the map", () => {
    const runs = [
      queued("run_1", 1, { workerPoolId: "wp_busy" }),
      queued("run_2", 2, { workerPoolId: "wp_unknown" }),
    ];
    expect(pickRunnable(runs, snapshot({ idle: { wp_busy: 0 } }))).toEqual([]);
  });

  it("keeps filling other pools when one pool is full", () => {
    const runs = [
      queued("run_1", 1, { stackId: "stk_a", workerPoolId: "wp_full" }),
      queued("run_2", 2, { stackId: "stk_b", workerPoolId: "wp_full" }),
      queued("run_3", 3, { stackId: "stk_c", workerPoolId: "wp_free" }),
    ];
    expect(
      ids(pickRunnable(runs, snapshot({ idle: { wp_full: 1, wp_free: 1 } }))),
    ).toEqual(["run_1", "run_3"]);
  });

  it("gives the last idle worker to the run that comes first in the order", () => {
    const runs = [
      queued("run_drift", 1, {
        stackId: "stk_a",
        type: "PROPOSED",
        isDrift: true,
      }),
      queued("run_proposed", 2, { stackId: "stk_b", type: "PROPOSED" }),
      queued("run_tracked", 3, { stackId: "stk_c" }),
    ];
    expect(ids(pickRunnable(runs, snapshot({ idle: { wp_1: 1 } })))).toEqual([
      "run_tracked",
    ]);
  });

  it("returns the picked runs in scheduling order", () => {
    const runs = [
      queued("run_drift", 1, {
        stackId: "stk_a",
        type: "PROPOSED",
        isDrift: true,
      }),
      queued("run_b", 3, { stackId: "stk_b" }),
      queued("run_c", 2, { stackId: "stk_c" }),
      queued("run_proposed", 4, {
        stackId: "stk_d",
        type: "PROPOSED",
        prioritized: true,
      }),
    ];
    expect(ids(pickRunnable(runs, snapshot()))).toEqual([
      "run_proposed",
      "run_c",
      "run_b",
      "run_drift",
    ]);
  });

  it("leaves its inputs untouched", () => {
    const runs = [queued("run_2", 2, { stackId: "stk_b" }), queued("run_1", 1)];
    const state = snapshot({ idle: { wp_1: 1 } });
    pickRunnable(runs, state);
    expect(ids(runs)).toEqual(["run_2", "run_1"]);
    expect(state.idleWorkersByPool.get("wp_1")).toBe(1);
  });

  it("returns the caller's own objects, extra fields included", () => {
    const run = { ...queued("run_1", 1), commitSha: "abc123" };
    const [picked] = pickRunnable([run], snapshot());
    expect(picked).toBe(run);
    expect(picked?.commitSha).toBe("abc123");
  });
});
