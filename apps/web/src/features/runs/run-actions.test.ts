import { describe, expect, it } from "vitest";
import { allowedRunActions } from "./run-actions.ts";

describe("allowedRunActions", () => {
  it("offers confirm and discard on an unconfirmed tracked run", () => {
    expect(
      allowedRunActions({ state: "UNCONFIRMED", type: "TRACKED" }),
    ).toEqual(["confirm", "discard"]);
  });
  it("offers discard and cancel before the run starts", () => {
    expect(allowedRunActions({ state: "QUEUED", type: "TRACKED" })).toEqual([
      "discard",
      "cancel",
    ]);
  });
  it("offers stop only before anything is applied", () => {
    expect(allowedRunActions({ state: "PLANNING", type: "TRACKED" })).toEqual([
      "stop",
    ]);
    expect(allowedRunActions({ state: "APPLYING", type: "TRACKED" })).toEqual(
      [],
    );
    expect(allowedRunActions({ state: "CONFIRMED", type: "TRACKED" })).toEqual(
      [],
    );
  });
  it("offers retry on failed and stopped runs, nothing on finished ones", () => {
    expect(allowedRunActions({ state: "FAILED", type: "TRACKED" })).toEqual([
      "retry",
    ]);
    expect(allowedRunActions({ state: "STOPPED", type: "PROPOSED" })).toEqual([
      "retry",
    ]);
    expect(allowedRunActions({ state: "FINISHED", type: "TRACKED" })).toEqual(
      [],
    );
  });
  it("never offers confirm on a proposed run", () => {
    expect(
      allowedRunActions({ state: "UNCONFIRMED", type: "PROPOSED" }),
    ).not.toContain("confirm");
  });
  it("follows the server's canRetry when it is known", () => {
    expect(
      allowedRunActions({ state: "FAILED", type: "TRACKED", canRetry: false }),
    ).toEqual([]);
  });
});
