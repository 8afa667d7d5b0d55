import { describe, expect, it } from "vitest";
import {
  autoattachTargets,
  labelsError,
  parseLabels,
} from "./context-labels.ts";

describe("context labels", () => {
  it("parses a comma-separated line", () => {
    expect(parseLabels(" a, b,,a , autoattach:prod ")).toEqual([
      "a",
      "b",
      "autoattach:prod",
    ]);
  });
  it("explains labels that cannot be saved", () => {
    expect(labelsError(["ok", "has space"])).toMatch(/commas/);
    expect(labelsError(["autoattach:"])).toMatch(/autoattach:prod/);
    expect(labelsError(["autoattach:prod", "folder:x"])).toBeNull();
  });
  it("lists autoattach targets", () => {
    expect(autoattachTargets(["x", "autoattach:prod"])).toEqual(["prod"]);
  });
});
