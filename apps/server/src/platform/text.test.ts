import { describe, expect, it } from "vitest";
import { trimLeading, trimTrailing } from "./text.ts";

describe("trimTrailing and trimLeading", () => {
  it("remove a run of one character at one end only", () => {
    expect(trimTrailing("https://h/api///", "/")).toBe("https://h/api");
    expect(trimTrailing("///", "/")).toBe("");
    expect(trimTrailing("a/b", "/")).toBe("a/b");
    expect(trimLeading("//a/b/", "/")).toBe("a/b/");
  });

  it("take linear time on a long run followed by another character", () => {
    // `/\/+$/` takes seconds on this text.
    const text = `${"/".repeat(200_000)}x`;
    const start = performance.now();
    expect(trimTrailing(text, "/")).toBe(text);
    expect(trimLeading(text, "/")).toBe("x");
    expect(performance.now() - start).toBeLessThan(1000);
  });
});
