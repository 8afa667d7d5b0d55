import { describe, expect, it } from "vitest";
import {
  decodeCursor,
  encodeCursor,
  MAX_PAGE_SIZE,
  parseStackSearch,
} from "./stack-search.ts";

const nulls = { booleanEquals: null, enumEquals: null, stringMatches: null };

describe("parseStackSearch", () => {
  it("parses spacectl's git-dir lookup (S07)", () => {
    const s = parseStackSearch({
      first: 50,
      after: null,
      fullTextSearch: null,
      orderBy: null,
      predicates: [
        {
          field: "repository",
          constraint: { ...nulls, stringMatches: ["org/repo"] },
          exclude: false,
        },
        {
          field: "projectRoot",
          constraint: { ...nulls, stringMatches: ["sub/dir", "sub/dir/"] },
          exclude: false,
        },
        {
          field: "branch",
          constraint: { ...nulls, stringMatches: ["main"] },
          exclude: false,
        },
      ],
    });
    expect(s).toEqual({
      first: 50,
      after: null,
      text: null,
      filters: [
        {
          kind: "string",
          field: "repository",
          values: ["org/repo"],
          exclude: false,
        },
        {
          kind: "string",
          field: "projectRoot",
          values: ["sub/dir", "sub/dir/"],
          exclude: false,
        },
        { kind: "string", field: "branch", values: ["main"], exclude: false },
      ],
    });
  });

  it("defaults and caps the page size", () => {
    expect(parseStackSearch({}).first).toBe(50);
    expect(parseStackSearch({ first: 10_000 }).first).toBe(MAX_PAGE_SIZE);
    expect(() => parseStackSearch({ first: 0 })).toThrow(
      "searchStacks input.first: must be a positive integer",
    );
  });

  it("parses labels, state, booleans and exclusion", () => {
    const s = parseStackSearch({
      fullTextSearch: "  web ",
      predicates: [
        {
          field: "label",
          constraint: { ...nulls, stringMatches: ["prod"] },
          exclude: true,
        },
        {
          field: "state",
          constraint: { ...nulls, enumEquals: ["FAILED", "NONE"] },
        },
        { field: "locked", constraint: { ...nulls, booleanEquals: [true] } },
      ],
    });
    expect(s.text).toBe("web");
    expect(s.filters).toEqual([
      { kind: "labels", values: ["prod"], exclude: true },
      {
        kind: "string",
        field: "state",
        values: ["FAILED", "NONE"],
        exclude: false,
      },
      { kind: "boolean", field: "locked", values: [true], exclude: false },
    ]);
  });

  it("names the predicate in errors", () => {
    expect(() =>
      parseStackSearch({
        predicates: [{ field: "color", constraint: { stringMatches: ["x"] } }],
      }),
    ).toThrow(
      /^searchStacks input.predicates\[0\].field: unknown field "color"/,
    );
    expect(() =>
      parseStackSearch({
        predicates: [
          { field: "autodeploy", constraint: { stringMatches: ["x"] } },
        ],
      }),
    ).toThrow(
      "searchStacks input.predicates[0].constraint: autodeploy takes booleanEquals",
    );
  });

  it("round-trips cursors and rejects foreign ones", () => {
    const c = { name: "my stack", id: "my-stack" };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(() => parseStackSearch({ after: "garbage" })).toThrow(
      "searchStacks input.after:",
    );
  });
});
