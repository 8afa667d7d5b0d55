import { Logger as GraphileLogger, run, runMigrations, type Runner, type TaskList } from "graphile-worker";
import type pg from "pg";
import type { Logger } from "../log/logger.ts";
import { PermanentJobError, type JobCatalog } from "./queue.ts";

/** Creates or upgrades the queue's own tables. Safe to run from several replicas. */
export async function migrateQueue(pgPool: pg.Pool, log: Logger): Promise<void> {
  await runMigrations({ pgPool, logger: graphileLogger(log) });
}

/**
 * Consumes the queue: claims jobs with `FOR UPDATE SKIP LOCKED` (inside
 * graphile-worker), LISTEN/NOTIFY wakes it early, polling is the fallback. Every job's
 * payload is validated against its catalog schema before its handler runs.
 */
export class Drain {
  private runner: Runner | null = null;

  constructor(
    private readonly opts: {
      pgPool: pg.Pool;
      catalog: JobCatalog;
      concurrency: number;
      pollIntervalMs: number;
      log: Logger;
    },
  ) {}

  async start(): Promise<void> {
    const { catalog, log } = this.opts;
    const taskList: TaskList = {};
    for (const [name, def] of Object.entries(catalog)) {
      taskList[name] = async (raw, helpers) => {
        const jobLog = log.child({ job: name, jobId: helpers.job.id, attempt: helpers.job.attempts });
        const parsed = def.schema.safeParse(raw);
        if (!parsed.success) {
          // Retrying cannot fix a malformed payload: drop it loudly.
          jobLog.error({ issues: parsed.error.issues }, "job payload failed validation; dropped");
          return;
        }
        try {
          await def.handler(parsed.data, { jobId: helpers.job.id, attempt: helpers.job.attempts, log: jobLog });
        } catch (err) {
          if (err instanceof PermanentJobError) {
            jobLog.error({ err }, "job failed permanently; dropped");
            return;
          }
          jobLog.warn({ err }, "job failed; it will be retried");
          throw err;
        }
      };
    }
    this.runner = await run({
      pgPool: this.opts.pgPool,
      concurrency: this.opts.concurrency,
      pollInterval: this.opts.pollIntervalMs,
      noHandleSignals: true,
      taskList,
      logger: graphileLogger(log),
    });
  }

  async stop(): Promise<void> {
    const runner = this.runner;
    this.runner = null;
    await runner?.stop();
  }
}

function graphileLogger(log: Logger): GraphileLogger {
  const qlog = log.child({ component: "queue" });
  return new GraphileLogger(() => (level, message, meta) => {
    if (level === "error") qlog.error(meta ?? {}, message);
    else if (level === "warning") qlog.warn(meta ?? {}, message);
    else qlog.debug(meta ?? {}, message);
  });
}
