import {
  ConfigError,
  formatConfigIssues,
  loadConfig,
  validateConfig,
  type Config,
} from "../platform/config/index.ts";
import { createLogger, type Logger } from "../platform/log/logger.ts";
import {
  createDatabase,
  migrateToLatest,
  checkPostgresVersion,
} from "../platform/db/index.ts";
import { isAppError } from "../platform/errors.ts";
import { installProcessErrorHandlers } from "../platform/log/process-errors.ts";
import { startServer } from "../server.ts";
import { waitForShutdownSignal } from "./signals.ts";
import type { RoleName } from "../roles/role.ts";

export interface CommonFlags {
  config?: string;
  dataDir?: string;
  port?: number;
  mqttPort?: number;
  roles?: string[];
  healthPort?: number;
}

/** Loads config or prints every problem; `null` means the caller exits with 2. */
export function loadConfigOrReport(
  flags: CommonFlags,
  stderr: NodeJS.WritableStream,
  /** Environment variables that apply unless the environment sets them. */
  envDefaults: Record<string, string> = {},
): Config | null {
  try {
    return loadConfig({
      envDefaults,
      configFile: flags.config,
      flags: {
        dataDir: flags.dataDir,
        port: flags.port,
        mqttPort: flags.mqttPort,
        roles: flags.roles,
        healthPort: flags.healthPort,
      },
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      stderr.write(
        `stackyard: invalid configuration:\n${formatConfigIssues(err.issues)}\n`,
      );
      return null;
    }
    throw err;
  }
}

export function loggerFor(config: Config, processName: string): Logger {
  return createLogger({
    level: config.log.level,
    format: config.log.format,
    base: { process: processName },
  });
}

export function reportFatal(
  log: Logger,
  err: unknown,
  stderr: NodeJS.WritableStream,
): number {
  if (
    isAppError(err) ||
    (err instanceof Error && err.name === "MigrationError")
  ) {
    log.error({ err }, err.message);
    stderr.write(`stackyard: ${err.message}\n`);
  } else {
    log.error({ err }, "stackyard stopped on an unexpected error");
    stderr.write(
      `stackyard: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  }
  return 1;
}

export async function serverCommand(
  flags: CommonFlags,
  io = { stderr: process.stderr },
): Promise<number> {
  const config = loadConfigOrReport(flags, io.stderr);
  if (!config) return 2;
  const log = loggerFor(config, "server");
  if (!config.database.url) {
    io.stderr.write(
      "stackyard: `server` needs DATABASE_URL (postgres://user:password@host:5432/db). For an all-in-one install on embedded defaults, use `stackyard up`.\n",
    );
    return 2;
  }
  const removeErrorHandlers = installProcessErrorHandlers(log);
  try {
    const server = await startServer(config, {
      databaseUrl: config.database.url,
      log,
      roles: config.server.roles as RoleName[],
    });
    const signal = await waitForShutdownSignal();
    log.info({ signal }, "shutting down");
    await server.stop();
    return 0;
  } catch (err) {
    return reportFatal(log, err, io.stderr);
  } finally {
    removeErrorHandlers();
  }
}

export async function migrateCommand(
  flags: CommonFlags,
  io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const config = loadConfigOrReport(flags, io.stderr);
  if (!config) return 2;
  const log = loggerFor(config, "migrate");
  if (!config.database.url) {
    io.stderr.write(
      "stackyard: `migrate` needs DATABASE_URL; `stackyard up` migrates its embedded database by itself.\n",
    );
    return 2;
  }
  const database = createDatabase({
    url: config.database.url,
    poolSize: 2,
    log,
  });
  try {
    const verdict = await checkPostgresVersion(database.db);
    if (verdict.warning)
      io.stderr.write(`stackyard: warning: ${verdict.warning}\n`);
    const { applied } = await migrateToLatest(database.db);
    io.stdout.write(
      applied.length
        ? `applied ${applied.length} migration(s): ${applied.join(", ")}\n`
        : "database is up to date\n",
    );
    return 0;
  } catch (err) {
    return reportFatal(log, err, io.stderr);
  } finally {
    await database.close();
  }
}

export function configValidateCommand(
  flags: { config?: string },
  io = { stdout: process.stdout, stderr: process.stderr },
): number {
  const result = validateConfig({ configFile: flags.config ?? "config.json" });
  if (result.ok) {
    io.stdout.write(
      `configuration is valid${result.config.configFile ? ` (${result.config.configFile})` : ""}\n`,
    );
    return 0;
  }
  io.stderr.write(
    `configuration has ${result.issues.length} problem(s):\n${formatConfigIssues(result.issues)}\n`,
  );
  return 1;
}
