import { describe, expect, it } from "vitest";
import { SENSITIVE, summarizePlan, UNKNOWN } from "./plan-summary.ts";

describe("summarizePlan", () => {
  it("counts a replacement in add and destroy and skips no-ops and reads", () => {
    const summary = summarizePlan(
      {
        resource_changes: [
          { address: "a", change: { actions: ["delete", "create"] } },
          { address: "b", change: { actions: ["update"] } },
          { address: "c", change: { actions: ["no-op"] } },
          { address: "data.d", change: { actions: ["read"] } },
        ],
        output_changes: {
          x: { actions: ["no-op"] },
          y: { actions: ["update"] },
        },
      },
      true,
      (s) => s,
    );
    expect(summary).toMatchObject({ add: 1, change: 1, destroy: 1 });
    expect(summary.resources.map((r) => r.address)).toEqual([
      "a",
      "b",
      "data.d",
    ]);
    expect(summary.outputs).toEqual([{ name: "y", actions: ["update"] }]);
  });

  it("redacts sensitive and unknown values and masks strings", () => {
    const summary = summarizePlan(
      {
        resource_changes: [
          {
            address: "r",
            change: {
              actions: ["update"],
              before: { password: "old-pw", tags: ["t1", "leak-me"], id: "i" },
              before_sensitive: { password: true, tags: [false, false] },
              after: { password: "new-pw", tags: ["t1", "leak-me"], id: null },
              after_sensitive: { password: true },
              after_unknown: { id: true, computed: true },
            },
          },
        ],
      },
      true,
      (s) => s.replaceAll("leak-me", "*****"),
    );
    expect(summary.resources[0]).toEqual({
      address: "r",
      actions: ["update"],
      before: { password: SENSITIVE, tags: ["t1", "*****"], id: "i" },
      after: {
        password: SENSITIVE,
        tags: ["t1", "*****"],
        id: UNKNOWN,
        computed: UNKNOWN,
      },
    });
  });
});
