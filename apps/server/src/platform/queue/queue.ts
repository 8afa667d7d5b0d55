import { sql, type Kysely } from "kysely";
import type { z } from "zod";
import type { Logger } from "../log/logger.ts";

/**
 * The built-in queue runs on Postgres (graphile-worker's tables in the
 * `graphile_worker` schema). Producers enqueue with plain SQL inside their own
 * transaction, so a domain write and its follow-up job commit or roll back together.
 *
 * Semantics (documented in docs/architecture.md):
 * - at-least-once: a handler may run again after a crash, so handlers are idempotent;
 * - a thrown error retries with exponential backoff up to `maxAttempts`;
 *   PermanentJobError (and a payload that fails its schema) fails the job at once;
 * - jobs sharing a `queue` name run one at a time in insertion order (FIFO groups);
 * - a `jobKey` deduplicates: enqueuing an existing key replaces the pending job.
 */
export interface JobDefinition<T = unknown> {
  schema: z.ZodType<T>;
  handler: (payload: T, ctx: JobContext) => Promise<void>;
  maxAttempts?: number;
}

export interface JobContext {
  jobId: string;
  attempt: number;
  log: Logger;
}

// Handlers are contravariant in their payload; the catalog is checked per entry by
// `defineJob`, so the map itself erases the payload type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JobCatalog = Record<string, JobDefinition<any>>;

export function defineJob<T>(
  schema: z.ZodType<T>,
  handler: (payload: T, ctx: JobContext) => Promise<void>,
  opts: { maxAttempts?: number } = {},
): JobDefinition<T> {
  return { schema, handler, ...opts };
}

/** Throw from a handler to fail a job without retrying (bad input, impossible state). */
export class PermanentJobError extends Error {}

export interface EnqueueOptions {
  /** FIFO group: jobs with the same queue name run one at a time, in order. */
  queue?: string;
  runAt?: Date;
  maxAttempts?: number;
  /** Deduplication key: a pending job with the same key is replaced. */
  jobKey?: string;
  /** Lower runs first (graphile-worker semantics). */
  priority?: number;
}

export const JOB_NAME_PATTERN = /^[a-z][a-zA-Z]*\.[a-z][a-zA-Z]*$/;

/** Enqueues on `db`, which may be a transaction: the job exists only if it commits. */
export async function enqueue(
  // Any Kysely handle or transaction; the SQL touches only graphile_worker's function.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  name: string,
  payload: unknown,
  opts: EnqueueOptions = {},
): Promise<void> {
  if (!JOB_NAME_PATTERN.test(name)) throw new Error(`job name ${name} must look like <module>.<verb>`);
  await sql`select graphile_worker.add_job(
    ${name}::text,
    ${JSON.stringify(payload ?? {})}::json,
    queue_name => ${opts.queue ?? null}::text,
    run_at => ${opts.runAt ?? null}::timestamptz,
    max_attempts => ${opts.maxAttempts ?? null}::int,
    job_key => ${opts.jobKey ?? null}::text,
    priority => ${opts.priority ?? null}::int
  )`.execute(db);
}
