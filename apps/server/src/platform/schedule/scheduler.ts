import { Cron } from "croner";
import type pg from "pg";
import type { Database } from "../db/index.ts";
import type { Logger } from "../log/logger.ts";
import { enqueue } from "../queue/index.ts";

export interface ScheduleEntry {
  /** Cron expression with seconds (croner syntax), evaluated in UTC. */
  cron: string;
  job: string;
  payload?: unknown;
  /**
   * Enqueue only on slots (Unix seconds) that are a multiple of this: an interval in
   * seconds on top of a per-second cron, for intervals cron cannot express.
   */
  everySeconds?: number;
}

// Any constant works; it names "the scheduler" among advisory locks in this database.
const SCHEDULER_LOCK_KEY = 0x5374_6b79; // "Stky"

/**
 * Cron work that only enqueues: each due entry becomes a queue job, the drain does the
 * work. Several scheduler replicas are safe: only the holder of a session-level advisory
 * lock (on a dedicated connection) ticks; the others retry the lock every few seconds and
 * take over if the holder's connection dies. Each job is also keyed by its cron slot, so
 * even a double tick enqueues it once.
 */
export class Scheduler {
  private crons: Cron[] = [];
  private lockClient: pg.PoolClient | null = null;
  private lockTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly opts: {
      db: Database;
      pgPool: pg.Pool;
      entries: ScheduleEntry[];
      log: Logger;
      lockRetryMs?: number;
    },
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.tryAcquire();
  }

  get isLeader(): boolean {
    return this.lockClient !== null;
  }

  /** Enqueues every entry due at `now` (tests call this directly; crons call it live). */
  async tick(now: Date, entries = this.opts.entries): Promise<void> {
    for (const entry of entries) {
      const slot = Math.floor(now.getTime() / 1000);
      if (entry.everySeconds && slot % entry.everySeconds !== 0) continue;
      await enqueue(this.opts.db, entry.job, entry.payload ?? {}, {
        jobKey: `${entry.job}@${slot}`,
        maxAttempts: 3,
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.lockTimer) clearTimeout(this.lockTimer);
    for (const c of this.crons) c.stop();
    this.crons = [];
    const client = this.lockClient;
    this.lockClient = null;
    if (client) {
      try {
        await client.query("select pg_advisory_unlock($1)", [
          SCHEDULER_LOCK_KEY,
        ]);
      } finally {
        client.release();
      }
    }
  }

  private async tryAcquire(): Promise<void> {
    if (this.stopped) return;
    try {
      const client = await this.opts.pgPool.connect();
      const { rows } = await client.query<{ locked: boolean }>(
        "select pg_try_advisory_lock($1) as locked",
        [SCHEDULER_LOCK_KEY],
      );
      if (rows[0]?.locked && !this.stopped) {
        this.lockClient = client;
        client.on("error", (err) => {
          this.opts.log.warn(
            { err },
            "scheduler lost its lock connection; will retry",
          );
          // Give the dead connection back (destroyed, not pooled): kept checked out, every
          // database restart would leak one pool slot until no connection was left to
          // take the lock with, and no replica would tick again.
          if (this.lockClient === client) {
            this.lockClient = null;
            client.release(err);
          }
          for (const c of this.crons) c.stop();
          this.crons = [];
          this.schedule();
        });
        this.opts.log.info(
          { entries: this.opts.entries.length },
          "scheduler is the leader",
        );
        this.crons = this.opts.entries.map(
          (entry) =>
            new Cron(
              entry.cron,
              { timezone: "UTC", protect: true },
              async (self: Cron) => {
                try {
                  await this.tick(self.currentRun() ?? new Date(), [entry]);
                } catch (err) {
                  this.opts.log.error(
                    { err, job: entry.job },
                    "scheduler could not enqueue",
                  );
                }
              },
            ),
        );
        return;
      }
      client.release();
    } catch (err) {
      this.opts.log.warn(
        { err },
        "scheduler could not reach the database; will retry",
      );
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.lockTimer = setTimeout(
      () => void this.tryAcquire(),
      this.opts.lockRetryMs ?? 5000,
    );
    // Not unref'd: in a scheduler-only process this timer is all that keeps Node running
    // while no cron is armed (no leader yet, or the lock connection just died). stop()
    // clears it.
  }
}
