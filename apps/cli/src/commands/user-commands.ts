import { Command, InvalidArgumentError, Option } from "commander";
import {
  ApiError,
  createClient,
  followRun,
  RUN_CONFIRM,
  RUN_TRIGGER,
  STACK_CREATE,
  STACKS_PAGE,
  type ApiClient,
  type RunTransition,
  type StacksPage,
} from "@stackyard/api-client";
import { CredentialsError, resolveCredentials } from "../credentials.ts";

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

type Result = { code: number };

/** Runs an API action, turning API and credential errors into one line and exit code 1. */
async function withClient(
  io: Io,
  result: Result,
  dataDir: string | undefined,
  fn: (c: ApiClient) => Promise<number>,
) {
  try {
    result.code = await fn(createClient(resolveCredentials(io.env, dataDir)));
  } catch (err) {
    if (err instanceof ApiError || err instanceof CredentialsError) {
      io.stderr.write(`stackyard: ${err.message}\n`);
      result.code = 1;
      return;
    }
    throw err;
  }
}

const dataDirOption = () =>
  new Option(
    "--data-dir <dir>",
    "use the admin key of this `stackyard up` data directory",
  );

function runType(value: string): "TRACKED" | "PROPOSED" {
  const v = value.toUpperCase();
  if (v !== "TRACKED" && v !== "PROPOSED")
    throw new InvalidArgumentError("expected tracked or proposed.");
  return v;
}

/** An id option's value; an option name there means the id itself was left out. */
function id(what: string) {
  return (value: string): string => {
    if (value.startsWith("-"))
      throw new InvalidArgumentError(
        `expected a ${what} id, got the option ${value} (is the id missing?)`,
      );
    return value;
  };
}
const stackOption = () =>
  new Option("--stack <id>", "stack id")
    .argParser(id("stack"))
    .makeOptionMandatory();
const runOption = () =>
  new Option("--run <id>", "run id").argParser(id("run")).makeOptionMandatory();

/** States where a run waits for a person (confirm, discard, approve): following stops there. */
const WAITS_FOR_A_PERSON = new Set(["UNCONFIRMED", "PENDING_REVIEW"]);

function printTransition(io: Io, t: RunTransition): void {
  const when = new Date(t.timestamp * 1000).toISOString();
  io.stderr.write(
    `\n── ${t.state}  ${when}${t.username ? `  ${t.username}` : ""}${t.note ? `  ${t.note}` : ""}\n`,
  );
}

async function follow(
  io: Io,
  client: ApiClient,
  stack: string,
  run: string,
): Promise<number> {
  let lastWait = -1;
  const final = await followRun(
    client,
    { stack, run },
    {
      onTransition: (t) => printTransition(io, t),
      onLog: (text) => io.stdout.write(text),
      onWaiting: (state, seconds) => {
        // A progress line every 5 s of waiting, so a long queue never looks hung.
        if (seconds >= 5 && Math.floor(seconds / 5) !== lastWait) {
          lastWait = Math.floor(seconds / 5);
          io.stderr.write(`   … still ${state} after ${seconds}s\n`);
        }
      },
      shouldStop: (t) => WAITS_FOR_A_PERSON.has(t.state),
    },
    { follow: true },
  );
  if (final.state === "FINISHED") return 0;
  if (final.state === "UNCONFIRMED") {
    io.stderr.write(
      `\nThe plan has changes. Confirm it with: stackyard run confirm --stack ${stack} --run ${run}\n`,
    );
    return 0;
  }
  if (final.state === "PENDING_REVIEW") {
    io.stderr.write(
      `\nThe run waits for a review: approve or reject it in the web UI, or with spacectl stack approve --id ${stack} --run ${run}\n`,
    );
    return 0;
  }
  io.stderr.write(`\nrun ${run} ended in state ${final.state}\n`);
  return 1;
}

export function addUserCommands(
  program: Command,
  result: Result,
  io: Io,
): void {
  const stack = program.command("stack").description("work with stacks");
  stack
    .command("list")
    .description("list stacks")
    .option("--search <text>", "only stacks matching this text")
    .addOption(dataDirOption())
    .action(async (opts: { search?: string; dataDir?: string }) =>
      withClient(io, result, opts.dataDir, async (client) => {
        const rows: StacksPage["searchStacks"]["edges"] = [];
        let after: string | null = null;
        for (let page = 0; page < 1000; page++) {
          const data: StacksPage = await client.request(STACKS_PAGE, {
            input: {
              first: 50,
              after,
              fullTextSearch: opts.search ?? null,
              predicates: null,
              orderBy: null,
            },
          });
          rows.push(...data.searchStacks.edges);
          if (!data.searchStacks.pageInfo.hasNextPage) break;
          after = data.searchStacks.pageInfo.endCursor;
        }
        if (!rows.length) io.stdout.write("no stacks\n");
        for (const { node } of rows) {
          const flags = [
            node.isDisabled ? "disabled" : "",
            node.lockedBy ? `locked by ${node.lockedBy}` : "",
          ].filter(Boolean);
          io.stdout.write(
            `${node.id}\t${node.state}\t${node.repository}@${node.branch}${flags.length ? `\t(${flags.join(", ")})` : ""}\n`,
          );
        }
        return 0;
      }),
    );

  stack
    .command("create")
    .description(
      "create a stack on a git repository (any URL, a local path, or file://)",
    )
    .requiredOption(
      "--name <name>",
      "stack name; its id (slug) is derived from it",
    )
    .requiredOption("--repository <url>", "git repository")
    .option("--branch <branch>", "tracked branch", "main")
    .option("--project-root <dir>", "directory inside the repository", "")
    .option("--worker-pool <id>", "worker pool id (default: the default pool)")
    .option(
      "--autodeploy",
      "apply without confirmation when the plan succeeds",
      false,
    )
    .addOption(
      new Option("--tool <tool>", "OPEN_TOFU or TERRAFORM_FOSS")
        .choices(["OPEN_TOFU", "TERRAFORM_FOSS"])
        .default("OPEN_TOFU"),
    )
    .addOption(dataDirOption())
    .action(
      async (opts: {
        name: string;
        repository: string;
        branch: string;
        projectRoot: string;
        workerPool?: string;
        autodeploy: boolean;
        /** Commander enforces `.choices` before the action runs. */
        tool: "OPEN_TOFU" | "TERRAFORM_FOSS";
        dataDir?: string;
      }) =>
        withClient(io, result, opts.dataDir, async (client) => {
          const data = await client.request(STACK_CREATE, {
            manageState: true,
            input: {
              name: opts.name,
              repository: opts.repository,
              branch: opts.branch,
              projectRoot: opts.projectRoot || null,
              workerPool: opts.workerPool ?? null,
              autodeploy: opts.autodeploy,
              autoretry: false,
              administrative: false,
              provider: "GIT",
              vendorConfig: {
                terraform: {
                  workflowTool: opts.tool,
                  version: null,
                  workspace: null,
                },
              },
            },
          });
          io.stdout.write(`${data.stackCreate.id}\n`);
          return 0;
        }),
    );

  const run = program.command("run").description("work with runs");
  run
    .command("trigger")
    .description("trigger a run of a stack")
    .addOption(stackOption())
    .addOption(
      new Option("--type <type>", "tracked or proposed")
        .argParser(runType)
        .default("TRACKED"),
    )
    .option(
      "--follow",
      "stream the run's states and logs until it needs you or ends",
      false,
    )
    .addOption(dataDirOption())
    .action(
      async (opts: {
        stack: string;
        type: ReturnType<typeof runType>;
        follow: boolean;
        dataDir?: string;
      }) =>
        withClient(io, result, opts.dataDir, async (client) => {
          const data = await client.request(RUN_TRIGGER, {
            stack: opts.stack,
            type: opts.type,
          });
          io.stdout.write(`${data.runTrigger.id}\n`);
          return opts.follow
            ? follow(io, client, opts.stack, data.runTrigger.id)
            : 0;
        }),
    );

  run
    .command("confirm")
    .description("confirm an unconfirmed tracked run, so it applies")
    .addOption(stackOption())
    .addOption(runOption())
    .option("--follow", "stream the apply until the run ends", false)
    .addOption(dataDirOption())
    .action(
      async (opts: {
        stack: string;
        run: string;
        follow: boolean;
        dataDir?: string;
      }) =>
        withClient(io, result, opts.dataDir, async (client) => {
          const data = await client.request(RUN_CONFIRM, {
            stack: opts.stack,
            run: opts.run,
          });
          io.stdout.write(`${data.runConfirm.id}\t${data.runConfirm.state}\n`);
          return opts.follow ? follow(io, client, opts.stack, opts.run) : 0;
        }),
    );

  run
    .command("logs")
    .description("print a run's states and logs")
    .addOption(stackOption())
    .addOption(runOption())
    .option(
      "--follow",
      "keep streaming until the run ends or waits for a person",
      false,
    )
    .addOption(dataDirOption())
    .action(
      async (opts: {
        stack: string;
        run: string;
        follow: boolean;
        dataDir?: string;
      }) =>
        withClient(io, result, opts.dataDir, async (client) => {
          if (opts.follow) return follow(io, client, opts.stack, opts.run);
          await followRun(
            client,
            { stack: opts.stack, run: opts.run },
            {
              onTransition: (t) => printTransition(io, t),
              onLog: (x) => io.stdout.write(x),
            },
          );
          return 0;
        }),
    );
}
