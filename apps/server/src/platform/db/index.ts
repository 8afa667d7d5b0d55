/**
 * Postgres access: the Kysely handle, forward-only SQL migrations applied under a lock,
 * and the supported-version check. Owns no domain tables itself; modules own theirs.
 */
export {
  createDatabase,
  pingDatabase,
  normalizeDatabaseUrl,
  type Database,
  type DatabaseHandle,
} from "./database.ts";
export { migrateToLatest, MigrationError, MIGRATIONS_DIR } from "./migrate.ts";
export {
  checkPostgresVersion,
  judgePostgresVersion,
  UnsupportedPostgresError,
} from "./postgres-version.ts";
export { isForeignKeyViolation } from "./pg-errors.ts";
export type * from "./schema.ts";
