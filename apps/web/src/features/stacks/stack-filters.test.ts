import { describe, expect, it } from "vitest";
import {
  folderLabel,
  folderOfLabel,
  foldersOf,
  stacksSearchInput,
} from "./stack-filters.ts";

describe("stack folders", () => {
  it("collects folder:<x> labels, merged with the known ones, sorted", () => {
    expect(
      foldersOf(
        [
          ["folder:prod", "team:a"],
          ["folder:dev", "folder:"],
        ],
        ["qa"],
      ),
    ).toEqual(["dev", "prod", "qa"]);
  });
  it("maps a folder to its label filter and back", () => {
    expect(folderLabel("prod")).toBe("folder:prod");
    expect(folderOfLabel(" folder:prod ")).toBe("prod");
    expect(folderOfLabel("team:a")).toBe("");
  });
});

describe("stacksSearchInput", () => {
  it("sends the folder and the label as two server-side label predicates", () => {
    expect(
      stacksSearchInput({
        filter: "failed",
        search: " net ",
        label: "team:a",
        folder: "prod/eu",
        after: "c1",
        pageSize: 50,
      }),
    ).toEqual({
      first: 50,
      after: "c1",
      fullTextSearch: "net",
      predicates: [
        {
          field: "state",
          constraint: { enumEquals: ["FAILED"] },
          exclude: false,
        },
        {
          field: "label",
          constraint: { stringMatches: ["folder:prod/eu"] },
          exclude: false,
        },
        {
          field: "label",
          constraint: { stringMatches: ["team:a"] },
          exclude: false,
        },
      ],
      orderBy: null,
    });
  });
});
