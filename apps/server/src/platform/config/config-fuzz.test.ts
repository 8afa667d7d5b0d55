import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { configReference, validateConfig } from "./index.ts";

/**
 * Fuzzes config.json: documents built from the real setting names (nested as the file
 * nests them) with values of every JSON type, unknown keys, and raw text that is not
 * JSON at all. Loading never throws: it returns a config or issues, each naming where
 * the problem is and what is wrong.
 */

const dir = mkdtempSync(path.join(tmpdir(), "stackyard-config-fuzz-"));
const cwd = mkdtempSync(path.join(tmpdir(), "stackyard-config-cwd-"));
const jsonPaths = configReference.flatMap((s) =>
  s.configJson ? s.configJson.split(" / ") : [],
);

const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    "",
    "true",
    "0",
    "-1",
    "127.0.0.1/33",
    "http://x",
    "::",
    "a,b",
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), scalar, {
      maxKeys: 3,
    }),
  },
);

function nest(pairs: Array<[string, unknown]>): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const [key, v] of pairs) {
    const parts = key.split(".");
    let node: Record<string, unknown> = doc;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      node[part] =
        next && typeof next === "object" && !Array.isArray(next) ? next : {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts.at(-1)!] = v;
  }
  return doc;
}

const document = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(
            { weight: 5, arbitrary: fc.constantFrom(...jsonPaths) },
            {
              weight: 1,
              arbitrary: fc.string({ minLength: 1, maxLength: 12 }),
            },
          ),
          value,
        ),
        { maxLength: 8 },
      )
      .map((pairs) => JSON.stringify(nest(pairs))),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.json() },
);

describe("config.json under random documents", () => {
  it("answers every document with a config or issues that say where and what", () => {
    let n = 0;
    fc.assert(
      fc.property(document, (text) => {
        const file = path.join(dir, `c${n++ % 50}.json`);
        writeFileSync(file, text);
        const result = validateConfig({ env: {}, cwd, configFile: file });
        if (result.ok) return;
        expect(result.issues.length).toBeGreaterThan(0);
        for (const issue of result.issues) {
          expect(issue.message, text).toMatch(/\S/);
          expect(typeof issue.path, text).toBe("string");
        }
      }),
      { numRuns: 10_000, interruptAfterTimeLimit: 15_000 },
    );
  }, 60_000);
});
