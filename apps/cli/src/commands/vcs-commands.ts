import type { Command } from "commander";
import { ApiError, createClient } from "@stackyard/api-client";
import { CredentialsError, resolveCredentials } from "../credentials.ts";

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

interface VcsEvent {
  id: string;
  source: string;
  kind: string;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  pullRequest: number | null;
  receivedAt: number;
  outcome: string;
  runId: string | null;
  reason: string;
}

const VCS_EVENTS = `query($stack: ID!, $limit: Int){stackyardVcsEvents(stack: $stack, limit: $limit){id source kind branch tag sha pullRequest receivedAt outcome runId reason}}`;

/** One line per event: when, what (branch/tag/PR and commit), the outcome and why. */
export function formatVcsEvent(e: VcsEvent): string {
  const when = new Date(e.receivedAt * 1000).toISOString();
  const ref =
    e.pullRequest !== null
      ? `PR #${e.pullRequest}`
      : e.tag
        ? `tag ${e.tag}`
        : (e.branch ?? "-");
  const outcome = e.runId ? `${e.outcome} ${e.runId}` : e.outcome;
  return `${when}  ${e.source.toLowerCase()} ${e.kind} ${ref} ${(e.sha ?? "").slice(0, 12)}  ${outcome}: ${e.reason}`;
}

/** `stackyard vcs events <stack>`: why a commit did or did not start a run. */
export function addVcsCommands(
  program: Command,
  result: { code: number },
  io: Io,
): void {
  const vcs = program
    .command("vcs")
    .description("version control: webhook and polling events");
  vcs
    .command("events")
    .description(
      "the stack's recent VCS events (kept 7 days), newest first, with the run each started or why none did",
    )
    .argument("<stack>", "stack id")
    .option("--limit <n>", "at most this many events (1-500)", "50")
    .option(
      "--data-dir <dir>",
      "use the admin key of this `stackyard up` data directory",
    )
    .action(
      async (stack: string, opts: { limit: string; dataDir?: string }) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
          io.stderr.write(
            `stackyard: --limit must be an integer from 1 to 500 (got ${opts.limit})\n`,
          );
          result.code = 2;
          return;
        }
        try {
          const client = createClient(resolveCredentials(io.env, opts.dataDir));
          const data = await client.request<{
            stackyardVcsEvents: VcsEvent[];
          }>(VCS_EVENTS, { stack, limit });
          if (data.stackyardVcsEvents.length === 0)
            io.stderr.write(
              `no VCS events for stack ${stack} in the last 7 days\n`,
            );
          for (const e of data.stackyardVcsEvents)
            io.stdout.write(`${formatVcsEvent(e)}\n`);
          result.code = 0;
        } catch (err) {
          if (err instanceof ApiError || err instanceof CredentialsError) {
            io.stderr.write(`stackyard: ${err.message}\n`);
            result.code = 1;
            return;
          }
          throw err;
        }
      },
    );
}
