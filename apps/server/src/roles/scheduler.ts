import type { App } from "../app.ts";
import {
  Scheduler,
  type ScheduleEntry,
} from "../platform/schedule/scheduler.ts";
import { vcsSchedule } from "../modules/vcs/index.ts";
import type { Role } from "./role.ts";

/** What the scheduler enqueues, and when (UTC, croner syntax with seconds). */
export const SCHEDULE: ScheduleEntry[] = [
  { cron: "*/15 * * * * *", job: "workers.expire" },
  // Fails stuck runs (lost worker, max duration, silence), then makes a scheduling pass.
  { cron: "*/15 * * * * *", job: "runs.reconcile" },
  // Moves log chunks of runs ended 5 min ago to the run-logs bucket.
  { cron: "0 * * * * *", job: "runs.archiveLogs" },
  // Daily: state versions past retention, then orphaned state objects.
  { cron: "0 30 3 * * *", job: "state.collectOrphans" },
  // Daily: bucket retention on stores without lifecycle rules (filesystem, Azure).
  { cron: "0 45 3 * * *", job: "storage.expire" },
];

export async function startSchedulerRole(app: App): Promise<Role> {
  const scheduler = new Scheduler({
    db: app.db,
    pgPool: app.database.pool,
    // Raw git polling every STACKYARD_VCS_POLL_INTERVAL_SECONDS, and VCS housekeeping.
    entries: [...SCHEDULE, ...vcsSchedule(app.config.vcs.pollIntervalSeconds)],
    log: app.log,
  });
  await scheduler.start();
  return { name: "scheduler", stop: () => scheduler.stop() };
}
