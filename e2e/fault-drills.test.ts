import { describe, expect, it } from "vitest";
import { FAULTS } from "./drills/drill.ts";
import { runDrillSeries } from "./drills/drill-series.ts";

// Ten seeded fault drills (e2e/drills): SIGKILL of the api, drain, scheduler or launcher
// process and restarts of PostgreSQL and Mosquitto, each at a phase of a real OpenTofu
// run. `npm run drills -- --count 100` runs a longer series by hand. Seed 16 draws every
// fault at least once, across eight phases and both run kinds.
const SEED = 16;
const COUNT = 10;

describe("fault drills", () => {
  it("every faulted run ends within its timeouts with whole logs and state, and the next run finishes", async () => {
    const lines: string[] = [];
    const results = await runDrillSeries({
      count: COUNT,
      seed: SEED,
      print: (line) => {
        lines.push(line);
        process.stdout.write(`${line}\n`);
      },
    });
    expect(results).toHaveLength(COUNT);
    expect(new Set(results.map((r) => r.plan.fault))).toEqual(new Set(FAULTS));
    const failures = results.filter((r) => r.problems.length > 0);
    expect(failures, lines.join("\n")).toEqual([]);
  }, 600_000);
});
