import { describe, expect, it } from "vitest";
import { actionLabel, diffRows, isNoop } from "./plan-diff.ts";

describe("diffRows", () => {
  it("lists nested attributes key by key and marks what changed", () => {
    const rows = diffRows(
      JSON.stringify({
        port: 5432,
        password: "(sensitive)",
        tags: { owner: "team", env: "dev" },
        rules: [{ from: 80 }],
      }),
      JSON.stringify({
        port: 5433,
        password: "(sensitive)",
        tags: { owner: "team" },
        rules: [{ from: 80 }, { from: 443 }],
        endpoint: "(known after apply)",
      }),
    );
    expect(rows).toEqual([
      { path: "port", before: "5432", after: "5433", kind: "changed" },
      {
        path: "password",
        before: "(sensitive)",
        after: "(sensitive)",
        kind: "same",
      },
      { path: "tags.owner", before: "team", after: "team", kind: "same" },
      { path: "tags.env", before: "dev", after: undefined, kind: "removed" },
      { path: "rules[0].from", before: "80", after: "80", kind: "same" },
      { path: "rules[1].from", before: undefined, after: "443", kind: "added" },
      {
        path: "endpoint",
        before: undefined,
        after: "(known after apply)",
        kind: "added",
      },
    ]);
  });

  it("treats a null side (create or delete) as having no attributes", () => {
    expect(diffRows("null", JSON.stringify({ input: "x", n: null }))).toEqual([
      { path: "input", before: undefined, after: "x", kind: "added" },
      { path: "n", before: undefined, after: "null", kind: "added" },
    ]);
    expect(diffRows(JSON.stringify({ id: "i-1" }), "null")).toEqual([
      { path: "id", before: "i-1", after: undefined, kind: "removed" },
    ]);
  });

  it("shows a whole sensitive map as one row", () => {
    expect(
      diffRows(
        JSON.stringify({ creds: "(sensitive)" }),
        JSON.stringify({ creds: {} }),
      ),
    ).toEqual([
      { path: "creds", before: "(sensitive)", after: "{}", kind: "changed" },
    ]);
  });
});

describe("actionLabel", () => {
  it("names replacements, creates, deletes, updates and no-ops", () => {
    expect(actionLabel(["delete", "create"]).label).toBe("replace");
    expect(actionLabel(["create"])).toEqual({ label: "create", tone: "ok" });
    expect(actionLabel(["delete"]).label).toBe("delete");
    expect(actionLabel(["update"]).label).toBe("update");
    expect(actionLabel(["no-op"]).label).toBe("no change");
    expect(isNoop(["no-op"])).toBe(true);
    expect(isNoop(["update"])).toBe(false);
  });
});
