import { sql } from "kysely";
import { AppError } from "../errors.ts";
import type { Database } from "./database.ts";

export const MIN_SUPPORTED_MAJOR = 14;
export const MAX_TESTED_MAJOR = 17;

export class UnsupportedPostgresError extends AppError {
  override readonly code = "UNSUPPORTED_POSTGRES";
}

export interface VersionVerdict {
  ok: boolean;
  major: number;
  warning?: string;
  error?: string;
}

/** The support table of the self-hosted docs: 14-17 supported, <=13 refused, >=18 untested. */
export function judgePostgresVersion(versionNum: number): VersionVerdict {
  const major = Math.floor(versionNum / 10_000);
  if (major < MIN_SUPPORTED_MAJOR) {
    return {
      ok: false,
      major,
      error: `PostgreSQL ${major} is not supported: Stackyard needs PostgreSQL ${MIN_SUPPORTED_MAJOR} to ${MAX_TESTED_MAJOR}. Upgrade the server or point DATABASE_URL at a newer one.`,
    };
  }
  if (major > MAX_TESTED_MAJOR) {
    return {
      ok: true,
      major,
      warning: `PostgreSQL ${major} has not been tested with Stackyard (tested: ${MIN_SUPPORTED_MAJOR} to ${MAX_TESTED_MAJOR}); continuing.`,
    };
  }
  return { ok: true, major };
}

export async function checkPostgresVersion(
  db: Database,
): Promise<VersionVerdict> {
  const { rows } = await sql<{
    server_version_num: string;
  }>`show server_version_num`.execute(db);
  const verdict = judgePostgresVersion(
    Number(rows[0]?.server_version_num ?? 0),
  );
  if (!verdict.ok)
    throw new UnsupportedPostgresError(
      verdict.error ?? "unsupported PostgreSQL version",
    );
  return verdict;
}
