import { describe, expect, it } from "vitest";
import {
  parsePolicyLabels,
  parseRegoProblems,
  policyDecisions,
  policyLabelsError,
  prettyJson,
} from "./policy-text.ts";
import { fieldProblems } from "../vcs/vcs-operations.ts";

describe("Rego problems in a save error", () => {
  it("splits located problems with their line and column", () => {
    expect(
      parseRegoProblems(
        "The policy body is invalid: line 3, column 5: rego_parse_error: unexpected ident token; line 9: undefined function http.send (disabled).",
      ),
    ).toEqual([
      {
        line: 3,
        column: 5,
        message: "rego_parse_error: unexpected ident token",
      },
      {
        line: 9,
        column: null,
        message: "undefined function http.send (disabled)",
      },
    ]);
  });

  it("keeps a message without a location whole", () => {
    expect(
      parseRegoProblems('The body needs a "package spacelift" line.'),
    ).toEqual([
      {
        line: null,
        column: null,
        message: 'The body needs a "package spacelift" line.',
      },
    ]);
  });
});

describe("policy labels", () => {
  it("parses a comma-separated line and accepts autoattach:*", () => {
    const labels = parsePolicyLabels(" a, autoattach:*,, a ");
    expect(labels).toEqual(["a", "autoattach:*"]);
    expect(policyLabelsError(labels)).toBeNull();
  });
  it("refuses spaces and an empty autoattach target", () => {
    expect(policyLabelsError(["a b"])).toMatch(/contains a space/);
    expect(policyLabelsError(["autoattach:"])).toMatch(/after autoattach:/);
  });
});

describe("policy decisions in run notes", () => {
  it("finds plan warnings, denials, evaluation errors and approval verdicts", () => {
    const decisions = policyDecisions([
      { state: "QUEUED", note: null },
      {
        state: "UNCONFIRMED",
        note: "Reported by worker w1; plan policy warnings: a needs a look; b too",
      },
      {
        state: "FAILED",
        note: "Failed: denied by plan policy: x may not be created",
      },
      {
        state: "FAILED",
        note: "Failed: plan policy evaluation failed: p: timeout",
      },
      { state: "FAILED", note: "Failed: Rejected by approval policy Two eyes" },
      { state: "FINISHED", note: "Reported by worker w1" },
    ]);
    expect(decisions).toEqual([
      {
        kind: "warn",
        messages: ["a needs a look", "b too"],
        state: "UNCONFIRMED",
      },
      { kind: "deny", messages: ["x may not be created"], state: "FAILED" },
      { kind: "error", messages: ["p: timeout"], state: "FAILED" },
      {
        kind: "approval",
        messages: ["Rejected by approval policy Two eyes"],
        state: "FAILED",
      },
    ]);
  });
});

describe("helpers", () => {
  it("pretty-prints JSON and leaves other text alone", () => {
    expect(prettyJson('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyJson("not json")).toBe("not json");
  });

  it("maps an integration validation error to its fields", () => {
    expect(
      fieldProblems(
        "Input.appId: required, the GitHub App's numeric id; input.privateKey: must be a PEM private key; something else.",
      ),
    ).toEqual({
      fields: {
        appId: "Required, the GitHub App's numeric id.",
        privateKey: "Must be a PEM private key.",
      },
      rest: ["something else"],
    });
  });
});
