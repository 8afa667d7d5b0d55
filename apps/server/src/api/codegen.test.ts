import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { generate } from "@graphql-codegen/cli";
import { describe, expect, it } from "vitest";
import config, {
  OPERATIONS_OUTPUT,
  RESOLVERS_OUTPUT,
} from "../../../../codegen.ts";

const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * The generated resolver and operation types are committed; they must be what
 * `npm run codegen` makes from the current SDL and operation files, or the type checks
 * they back check against a stale schema.
 */
describe("GraphQL codegen output", () => {
  it("matches the SDL and the client operations (run npm run codegen)", async () => {
    // `generate` is declared to return `any` when nothing is written.
    const outputs: { filename: string; content: string }[] = await generate(
      { ...config, silent: true },
      false,
    );
    const byFile = new Map(outputs.map((o) => [o.filename, o.content]));
    expect([...byFile.keys()].sort()).toEqual(
      [OPERATIONS_OUTPUT, RESOLVERS_OUTPUT].sort(),
    );
    const stale: string[] = [];
    for (const [filename, content] of byFile) {
      const committed = await readFile(filename, "utf8").catch(() => null);
      if (committed !== content) stale.push(relative(repoRoot, filename));
    }
    expect(
      stale,
      `generated GraphQL types are out of date, run npm run codegen: ${stale.join(", ")}`,
    ).toEqual([]);
  });
});
