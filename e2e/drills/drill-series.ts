import {
  createRandom,
  FAULTS,
  planDrill,
  runDrill,
  type DrillResult,
} from "./drill.ts";
import { DrillTopology } from "./drill-topology.ts";

export interface SeriesOptions {
  count: number;
  seed: number;
  /** One line per drill and the summary go here. */
  print: (line: string) => void;
  /** Keep the topology's directory (logs, data) when a drill failed. */
  keepOnFailure?: boolean;
}

/**
 * Runs `count` drills on one topology, each on a fresh stack; the seed fixes the faults,
 * run kinds, phases, delays and downtimes (not the timing of the processes, so a seed
 * replays the same plan, not always the same interleaving). A drill that throws (the
 * harness could not even drive it) counts as failed with the error as its problem.
 */
export async function runDrillSeries(
  opts: SeriesOptions,
): Promise<DrillResult[]> {
  const random = createRandom(opts.seed);
  opts.print(`fault drills: ${opts.count} drills, seed ${opts.seed}`);
  const topology = await DrillTopology.start();
  opts.print(`topology up in ${topology.dir} (logs in ${topology.dir}/logs)`);
  const results: DrillResult[] = [];
  try {
    for (let i = 1; i <= opts.count; i++) {
      const plan = planDrill(i, random);
      const startedAt = Date.now();
      let result: DrillResult;
      try {
        result = await runDrill(topology, plan);
      } catch (err) {
        result = {
          plan,
          injectedAt: "?",
          run: { id: "?", state: "?", seconds: 0, note: "" },
          next: null,
          problems: [`the drill could not be driven: ${String(err)}`],
          seconds: (Date.now() - startedAt) / 1000,
        };
      }
      results.push(result);
      opts.print(formatDrill(result, opts.count));
    }
  } finally {
    const failed = results.some((r) => r.problems.length > 0);
    await topology.stop({ keepDir: failed && opts.keepOnFailure === true });
    if (failed && opts.keepOnFailure)
      opts.print(`kept ${topology.dir} for inspection`);
  }
  for (const line of formatSummary(results)) opts.print(line);
  return results;
}

export function formatDrill(r: DrillResult, count: number): string {
  const p = r.plan;
  const head =
    `drill ${String(p.index).padStart(String(count).length)}/${count} ` +
    `${p.fault.padEnd(16)} ${p.kind.padEnd(10)} at ${p.phase}+${p.delayMs}ms ` +
    `(was ${r.injectedAt}, down ${p.downMs}ms)`;
  const run =
    `run ${r.run.state} in ${r.run.seconds.toFixed(1)}s` +
    (r.run.state === "FAILED" && r.run.note ? ` [${r.run.note}]` : "");
  const next = r.next
    ? `next ${r.next.state} in ${r.next.seconds.toFixed(1)}s`
    : "no next run";
  const verdict = r.problems.length === 0 ? "PASS" : "FAIL";
  const lines = [`${head}: ${run}; ${next} -> ${verdict}`];
  for (const problem of r.problems) lines.push(`    - ${problem}`);
  return lines.join("\n");
}

export function formatSummary(results: DrillResult[]): string[] {
  const failed = results.filter((r) => r.problems.length > 0);
  const lines = [
    "",
    `summary: ${results.length - failed.length}/${results.length} drills passed, ${failed.length} failed`,
  ];
  for (const fault of FAULTS) {
    const of = results.filter((r) => r.plan.fault === fault);
    if (of.length === 0) continue;
    const bad = of.filter((r) => r.problems.length > 0).length;
    const runFailed = of.filter((r) => r.run.state === "FAILED").length;
    lines.push(
      `  ${fault.padEnd(16)} ${of.length} drills, ${bad} failed; faulted run ended FAILED in ${runFailed}, FINISHED in ${of.filter((r) => r.run.state === "FINISHED").length}`,
    );
  }
  const slowest = Math.max(0, ...results.map((r) => r.run.seconds));
  lines.push(`  slowest faulted run to end: ${slowest.toFixed(1)}s`);
  return lines;
}
