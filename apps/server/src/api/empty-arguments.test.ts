import { describe, expect, it } from "vitest";
import { removeEmptyArgumentLists } from "./empty-arguments.ts";

describe("removeEmptyArgumentLists", () => {
  it("removes the empty argument lists the Terraform provider sends", () => {
    expect(removeEmptyArgumentLists("{workerPools(){id,name}}")).toBe(
      "{workerPools{id,name}}",
    );
    expect(removeEmptyArgumentLists("{policies( ) {id}}")).toBe(
      "{policies {id}}",
    );
  });

  it("keeps argument lists that have arguments", () => {
    const text = "query($id:ID!){stack(id: $id){id}}";
    expect(removeEmptyArgumentLists(text)).toBe(text);
  });

  it("leaves parentheses inside strings, block strings and comments alone", () => {
    const text =
      'mutation{stackLock(id: "()", note: """()"""){id}} # workerPools()';
    expect(removeEmptyArgumentLists(text)).toBe(text);
  });

  it("returns text the lexer cannot read unchanged, for the parser to report", () => {
    const text = '{stack(id: "() unterminated';
    expect(removeEmptyArgumentLists(text)).toBe(text);
  });
});
