import { describe, expect, it } from "vitest";
import { emptyHooks, type ConfigType, type HookLists } from "./stack.ts";
import {
  autoAttaches,
  effectiveHooks,
  resolveEffectiveConfig,
} from "./stack-environment.ts";

const env = (
  id: string,
  value: string,
): { id: string; type: ConfigType; value: string } => ({
  id,
  type: "ENVIRONMENT_VARIABLE",
  value,
});

describe("resolveEffectiveConfig", () => {
  it("ranks runtime over stack over attached over auto-attached", () => {
    const out = resolveEffectiveConfig({
      runtime: [env("A", "runtime")],
      stack: [env("A", "stack"), env("B", "stack")],
      attached: [
        {
          contextId: "c1",
          priority: 0,
          elements: [env("A", "c1"), env("B", "c1"), env("C", "c1")],
        },
      ],
      autoAttached: [
        {
          contextId: "auto",
          contextName: "auto",
          elements: [env("C", "auto"), env("D", "auto")],
        },
      ],
    });
    expect(out.map((e) => [e.id, e.value, e.source])).toEqual([
      ["A", "runtime", "runtime"],
      ["B", "stack", "stack"],
      ["C", "c1", "context:c1"],
      ["D", "auto", "context:auto"],
    ]);
  });

  it("lets the lowest priority number win among attached contexts", () => {
    const out = resolveEffectiveConfig({
      stack: [],
      attached: [
        { contextId: "z-high", priority: 5, elements: [env("X", "five")] },
        { contextId: "a-low", priority: 1, elements: [env("X", "one")] },
      ],
      autoAttached: [],
    });
    expect(out).toEqual([{ ...env("X", "one"), source: "context:a-low" }]);
  });

  it("breaks priority ties by context id", () => {
    const out = resolveEffectiveConfig({
      stack: [],
      attached: [
        { contextId: "beta", priority: 0, elements: [env("X", "beta")] },
        { contextId: "alpha", priority: 0, elements: [env("X", "alpha")] },
      ],
      autoAttached: [],
    });
    expect(out[0]?.source).toBe("context:alpha");
  });

  it("lets the alphabetically first auto-attached context win", () => {
    const out = resolveEffectiveConfig({
      stack: [],
      attached: [],
      autoAttached: [
        { contextId: "c-2", contextName: "zeta", elements: [env("X", "zeta")] },
        {
          contextId: "c-1",
          contextName: "alpha",
          elements: [env("X", "alpha")],
        },
      ],
    });
    expect(out).toEqual([{ ...env("X", "alpha"), source: "context:c-1" }]);
  });

  it("keeps an env var and a mounted file with the same id apart", () => {
    const out = resolveEffectiveConfig({
      stack: [env("cfg", "var")],
      attached: [
        {
          contextId: "c",
          priority: 0,
          elements: [{ id: "cfg", type: "FILE_MOUNT" as const, value: "Zg==" }],
        },
      ],
      autoAttached: [],
    });
    expect(out).toHaveLength(2);
  });

  it("counts a context that is both attached and auto-attached once, as attached", () => {
    const out = resolveEffectiveConfig({
      stack: [],
      attached: [{ contextId: "c", priority: 9, elements: [env("X", "c")] }],
      autoAttached: [
        { contextId: "a", contextName: "a", elements: [env("X", "a")] },
        { contextId: "c", contextName: "c", elements: [env("X", "c")] },
      ],
    });
    expect(out).toEqual([{ ...env("X", "c"), source: "context:c" }]);
  });
});

describe("autoAttaches", () => {
  const stack = { labels: ["prod", "aws"], spaceLineage: ["team-a", "root"] };
  it("matches autoattach:<label> against the stack's labels", () => {
    expect(
      autoAttaches({ labels: ["autoattach:prod"], spaceId: "root" }, stack),
    ).toBe(true);
    expect(
      autoAttaches({ labels: ["autoattach:dev"], spaceId: "root" }, stack),
    ).toBe(false);
    expect(autoAttaches({ labels: ["prod"], spaceId: "root" }, stack)).toBe(
      false,
    );
    expect(
      autoAttaches({ labels: ["autoattach:"], spaceId: "root" }, stack),
    ).toBe(false);
  });
  it("matches autoattach:* for stacks in the context's space or below", () => {
    expect(
      autoAttaches({ labels: ["autoattach:*"], spaceId: "team-a" }, stack),
    ).toBe(true);
    expect(
      autoAttaches({ labels: ["autoattach:*"], spaceId: "root" }, stack),
    ).toBe(true);
  });
  it("never reaches stacks outside the context's subtree", () => {
    expect(
      autoAttaches({ labels: ["autoattach:*"], spaceId: "team-b" }, stack),
    ).toBe(false);
    expect(
      autoAttaches({ labels: ["autoattach:prod"], spaceId: "team-b" }, stack),
    ).toBe(false);
  });
});

describe("effectiveHooks", () => {
  const hooks = (tag: string): HookLists => ({
    ...emptyHooks(),
    beforeInit: [`${tag}-bi`],
    afterApply: [`${tag}-aa1`, `${tag}-aa2`],
    afterRun: [`${tag}-ar`],
  });

  const merged = effectiveHooks({
    stack: hooks("stack"),
    attached: [
      { contextId: "p5", priority: 5, hooks: hooks("p5") },
      { contextId: "p1", priority: 1, hooks: hooks("p1") },
    ],
    autoAttached: [
      { contextId: "x", contextName: "beta", hooks: hooks("auto-beta") },
      { contextId: "y", contextName: "alpha", hooks: hooks("auto-alpha") },
    ],
  });

  it("runs before-hooks: attached by priority, auto-attached reverse alphabetical, then the stack", () => {
    expect(merged.beforeInit).toEqual([
      "p1-bi",
      "p5-bi",
      "auto-beta-bi",
      "auto-alpha-bi",
      "stack-bi",
    ]);
  });

  it("runs after-hooks in the reverse order of layers, keeping each layer's own order", () => {
    expect(merged.afterApply).toEqual([
      "stack-aa1",
      "stack-aa2",
      "auto-alpha-aa1",
      "auto-alpha-aa2",
      "auto-beta-aa1",
      "auto-beta-aa2",
      "p5-aa1",
      "p5-aa2",
      "p1-aa1",
      "p1-aa2",
    ]);
    expect(merged.afterRun).toEqual([
      "stack-ar",
      "auto-alpha-ar",
      "auto-beta-ar",
      "p5-ar",
      "p1-ar",
    ]);
  });

  it("gives empty lists for phases nobody hooks", () => {
    expect(merged.beforeDestroy).toEqual([]);
  });
});
