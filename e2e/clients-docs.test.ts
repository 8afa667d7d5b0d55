import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { renderClientsDoc } from "./clients-compat.ts";

describe("docs/clients.md", () => {
  it("matches the client suites' tables (run `node --import tsx scripts/gen-clients-docs.ts`)", async () => {
    const committed = await readFile(
      new URL("../docs/clients.md", import.meta.url),
      "utf8",
    );
    expect(committed).toBe(await renderClientsDoc());
  });
});
