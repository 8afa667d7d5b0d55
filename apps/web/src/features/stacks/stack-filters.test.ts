import { describe, expect, it } from "vitest";
import { folderLabel, folderOfLabel, foldersOf } from "./stack-filters.ts";

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
