import { parseArgs } from "node:util";
import { runDrillSeries } from "./drill-series.ts";

// `npm run drills -- --count N [--seed S] [--keep]`: N fault drills on a fresh topology
// (see drill-topology.ts); exits 1 when any drill failed. `--keep` keeps the data and
// process logs of a failed series.
const { values } = parseArgs({
  options: {
    count: { type: "string", default: "100" },
    seed: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const seed =
  values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  process.stderr.write(
    "usage: npm run drills -- --count N [--seed S] [--keep]\n",
  );
  process.exit(2);
}
const results = await runDrillSeries({
  count,
  seed,
  print: (line) => process.stdout.write(`${line}\n`),
  keepOnFailure: values.keep,
});
process.exit(results.every((r) => r.problems.length === 0) ? 0 : 1);
