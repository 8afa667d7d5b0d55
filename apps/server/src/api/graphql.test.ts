import { describe, expect, it } from "vitest";
import { StackState } from "./generated/resolvers.ts";
import { mergeResolvers, schemaEnum, type Resolvers } from "./graphql.ts";

describe("mergeResolvers", () => {
  it("merges the fields each module resolves into one map per type", () => {
    const auth: Resolvers = {
      Query: { debugInfo: () => ({ selfHostedVersion: "" }) },
    };
    const stacks: Resolvers = {
      Query: { stacks: () => [] },
      Stack: { canWrite: () => true },
    };
    const merged = mergeResolvers([auth, stacks]);
    expect(Object.keys(merged).sort()).toEqual(["Query", "Stack"]);
    expect(Object.keys(merged.Query ?? {}).sort()).toEqual([
      "debugInfo",
      "stacks",
    ]);
  });

  it("refuses a field resolved by two modules", () => {
    const one: Resolvers = { Stack: { canWrite: () => true } };
    const two: Resolvers = { Stack: { canWrite: () => false } };
    expect(() => mergeResolvers([one, two])).toThrow(
      "GraphQL field Stack.canWrite is resolved twice",
    );
  });
});

describe("schemaEnum", () => {
  it("narrows a domain string to the enum's value", () => {
    const state: StackState = schemaEnum(StackState, "FINISHED", "StackState");
    expect(state).toBe(StackState.Finished);
  });

  it("names the enum when the value is not one of its values", () => {
    expect(() => schemaEnum(StackState, "READY", "StackState")).toThrow(
      "READY is not a value of the GraphQL enum StackState",
    );
  });
});
