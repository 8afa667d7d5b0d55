import { describe, expect, it } from "vitest";
import { shownRunActions } from "./run-actions.ts";

// What the server allows per state is tested where the rules live (run.test.ts) and
// through the API (run-resolvers.db.test.ts, `Run.allowedActions`).
describe("shownRunActions", () => {
  it("shows the allowed actions the page has buttons for, in the page's order", () => {
    expect(
      shownRunActions(["discard", "cancel", "prioritize", "review"]),
    ).toEqual(["discard", "cancel"]);
    expect(shownRunActions(["confirm", "discard", "review", "replan"])).toEqual(
      ["confirm", "discard"],
    );
    expect(shownRunActions(["retry"])).toEqual(["retry"]);
  });
  it("shows nothing when the server allows nothing", () => {
    expect(shownRunActions([])).toEqual([]);
  });
});
