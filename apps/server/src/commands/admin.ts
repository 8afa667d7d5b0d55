import { bootstrapAdminKey } from "../modules/auth/index.ts";
import {
  checkPostgresVersion,
  createDatabase,
  migrateToLatest,
} from "../platform/db/index.ts";
import { loadConfigOrReport, loggerFor, reportFatal } from "./operator.ts";

/**
 * `stackyard admin bootstrap`: the first admin API key of an installation run without
 * `stackyard up` (DATABASE_URL). Applies pending migrations first. Prints the key as
 * JSON on stdout, once; the secret is not stored anywhere else.
 */
export async function adminBootstrapCommand(
  flags: { config?: string; force?: boolean; name?: string },
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = {
    stdout: process.stdout,
    stderr: process.stderr,
  },
): Promise<number> {
  const config = loadConfigOrReport(flags, io.stderr);
  if (!config) return 2;
  const log = loggerFor(config, "admin");
  if (!config.database.url) {
    io.stderr.write(
      "stackyard: `admin bootstrap` needs DATABASE_URL; `stackyard up` creates its admin key by itself (.stackyard/admin-api-key.json).\n",
    );
    return 2;
  }
  const name = (flags.name ?? "admin").trim();
  if (!name) {
    io.stderr.write("stackyard: --name must not be empty\n");
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
    await migrateToLatest(database.db);
    const outcome = await bootstrapAdminKey(database.db, {
      force: flags.force ?? false,
      name,
    });
    if (!outcome.created) {
      io.stderr.write(
        `stackyard: an admin API key exists already (${outcome.existing.join(", ")}); nothing created. Pass --force to create another.\n`,
      );
      return 0;
    }
    io.stdout.write(
      `${JSON.stringify({ id: outcome.key.id, secret: outcome.key.secret }, null, 2)}\n`,
    );
    io.stderr.write(
      `stackyard: created admin API key ${outcome.key.id}; its secret is shown only now. Use it as STACKYARD_API_KEY_ID / STACKYARD_API_KEY_SECRET (or SPACELIFT_API_KEY_*).\n`,
    );
    return 0;
  } catch (err) {
    return reportFatal(log, err, io.stderr);
  } finally {
    await database.close();
  }
}
