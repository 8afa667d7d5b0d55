import { fileURLToPath } from "node:url";
import { addUserCommands } from "./commands/user-commands.ts";
import { addStateCommands } from "./commands/state-commands.ts";
import { addPoolCommands } from "./commands/pool-commands.ts";
import { addVcsCommands } from "./commands/vcs-commands.ts";
import { addPolicyCommands } from "./commands/policy-commands.ts";
import {
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
} from "commander";

const BIN = fileURLToPath(new URL("../bin/stackyard.js", import.meta.url));

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError(
      "expected a port number between 1 and 65535.",
    );
  return n;
}

const ROLES = ["api", "drain", "scheduler"];
function roles(value: string): string[] {
  const list = value
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = list.filter((r) => !ROLES.includes(r));
  if (!list.length || bad.length)
    throw new InvalidArgumentError(
      `expected a comma-separated list of ${ROLES.join(", ")}.`,
    );
  return list;
}

/**
 * The `stackyard` command. Operator commands load the server or launcher package only
 * when invoked, so `stackyard version` and `--help` stay fast.
 */
export function buildProgram(result: { code: number }): Command {
  const program = new Command("stackyard")
    .description(
      "Stackyard: self-hosted infrastructure-as-code runs for OpenTofu and Terraform",
    )
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({
      outputError: (str, write) =>
        write(str.trimEnd().replace(/^error: /, "stackyard: ") + "\n"),
    });

  program
    .command("up")
    .description(
      "start everything on embedded defaults: server roles, broker, Postgres and a local launcher",
    )
    .addOption(
      new Option(
        "--data-dir <dir>",
        "data directory (env STACKYARD_DATA_DIR, default ./.stackyard)",
      ),
    )
    .addOption(
      new Option(
        "--port <port>",
        "HTTP port (env STACKYARD_PORT, default 1983)",
      ).argParser(port),
    )
    .addOption(
      new Option(
        "--mqtt-port <port>",
        "built-in MQTT broker port (env STACKYARD_MQTT_PORT, default 1984)",
      ).argParser(port),
    )
    .option("-c, --config <file>", "config.json to load")
    .action(
      async (opts: {
        dataDir?: string;
        port?: number;
        mqttPort?: number;
        config?: string;
      }) => {
        const { upCommand } = await import("@stackyard/server/commands");
        result.code = await upCommand(opts, {
          stderr: process.stderr,
          selfCommand: [process.execPath, BIN],
        });
      },
    );

  program
    .command("server")
    .description("run server roles against an existing Postgres (DATABASE_URL)")
    .addOption(
      new Option(
        "--roles <roles>",
        "comma-separated roles: api,drain,scheduler (env STACKYARD_ROLES)",
      ).argParser(roles),
    )
    .addOption(
      new Option(
        "--port <port>",
        "HTTP port (env STACKYARD_PORT, default 1983)",
      ).argParser(port),
    )
    .addOption(
      new Option(
        "--mqtt-port <port>",
        "built-in MQTT broker port (env STACKYARD_MQTT_PORT, default 1984)",
      ).argParser(port),
    )
    .addOption(
      new Option(
        "--data-dir <dir>",
        "directory for generated keys and file storage (env STACKYARD_DATA_DIR)",
      ),
    )
    .addOption(
      new Option(
        "--health-port <port>",
        "health and metrics port of a process without the api role (env STACKYARD_HEALTH_PORT)",
      ).argParser(port),
    )
    .option("-c, --config <file>", "config.json to load")
    .action(
      async (opts: {
        roles?: string[];
        port?: number;
        mqttPort?: number;
        healthPort?: number;
        dataDir?: string;
        config?: string;
      }) => {
        const { serverCommand } = await import("@stackyard/server/commands");
        result.code = await serverCommand(opts);
      },
    );

  program
    .command("launcher")
    .description(
      "run a launcher: needs STACKYARD_TOKEN (and STACKYARD_POOL_PRIVATE_KEY)",
    )
    .action(async () => {
      const { launcherCommand } = await import("@stackyard/launcher/commands");
      result.code = await launcherCommand(process.env);
    });

  program
    .command("migrate")
    .description("apply database migrations (DATABASE_URL)")
    .option("-c, --config <file>", "config.json to load")
    .action(async (opts: { config?: string }) => {
      const { migrateCommand } = await import("@stackyard/server/commands");
      result.code = await migrateCommand(opts);
    });

  program
    .command("broker")
    .description("external MQTT broker tools")
    .command("acl")
    .description(
      "write Mosquitto password and ACL files from the worker pools (DATABASE_URL), so each pool can use only its own topics",
    )
    .requiredOption(
      "--out-dir <dir>",
      "where to write passwd, acl and mosquitto.conf",
    )
    .option("-c, --config <file>", "config.json to load")
    .action(async (opts: { outDir: string; config?: string }) => {
      const { brokerAclCommand } = await import("@stackyard/server/commands");
      result.code = await brokerAclCommand(opts);
    });

  const config = program.command("config").description("configuration tools");
  config
    .command("validate")
    .description(
      "check a config.json plus the environment; lists every problem",
    )
    .option("-c, --config <file>", "config.json to check", "config.json")
    .action(async (opts: { config: string }) => {
      const { configValidateCommand } = await import(
        "@stackyard/server/commands"
      );
      result.code = configValidateCommand(opts);
    });

  program
    .command("version")
    .description("print the version")
    .action(async () => {
      const { STACKYARD_VERSION } = await import("@stackyard/server/commands");
      process.stdout.write(`stackyard ${STACKYARD_VERSION}\n`);
      result.code = 0;
    });
  const io = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  };
  addUserCommands(program, result, io);
  addStateCommands(program, result, io);
  addPoolCommands(program, result, io);
  addVcsCommands(program, result, io);
  addPolicyCommands(program, result, io);
  return program;
}

/** Parses argv and runs one command. Usage errors exit 2, as with most CLIs. */
export async function main(argv: string[]): Promise<number> {
  const result = { code: 0 };
  const program = buildProgram(result);
  try {
    await program.parseAsync(argv, { from: "user" });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.help" ||
        err.code === "commander.version"
      )
        return 0;
      return 2;
    }
    throw err;
  }
}
