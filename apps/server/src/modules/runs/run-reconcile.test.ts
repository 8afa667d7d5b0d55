import { describe, expect, it } from "vitest";
import { stuckReason, type StuckRunFacts } from "./run-reconcile.ts";

const limits = { maxDurationSeconds: 4200, logSilenceTimeoutSeconds: 420 };
const handover = new Date("2026-01-01T00:00:00Z");
const after = (seconds: number) =>
  new Date(handover.getTime() + seconds * 1000);

function held(overrides: Partial<StuckRunFacts> = {}): StuckRunFacts {
  return {
    workerId: "wkr_1",
    workerStatus: "BUSY",
    workerGoneReason: null,
    startedAt: handover,
    lastActivityAt: handover,
    updatedAt: handover,
    ...overrides,
  };
}

describe("the pickup timeout", () => {
  it.each(["PREPARING", "PREPARING_APPLY", "PREPARING_REPLAN"])(
    "fails a %s run without any report 60 s after the hand-over, not before",
    (state) => {
      expect(stuckReason(held({ state }), after(59), limits)).toBeNull();
      expect(stuckReason(held({ state }), after(61), limits)).toMatch(
        /the worker did not pick up the run/,
      );
    },
  );

  it("leaves a replan whose worker reported (init logs) to the silence timeout", () => {
    const reported = held({
      state: "PREPARING_REPLAN",
      lastActivityAt: after(2),
    });
    expect(stuckReason(reported, after(300), limits)).toBeNull();
    expect(stuckReason(reported, after(423), limits)).toMatch(
      /no activity from the worker for more than 420 s/,
    );
  });

  it("fails a held replan whose worker is gone, at once", () => {
    expect(
      stuckReason(
        held({ state: "PREPARING_REPLAN", workerStatus: "GONE" }),
        after(1),
        limits,
      ),
    ).toMatch(/worker wkr_1 is gone/);
  });
});
