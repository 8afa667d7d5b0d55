import type { App } from "../app.ts";
import { Drain, SqsRelay, type JobCatalog } from "../platform/queue/index.ts";
import { workerJobs } from "../modules/workers/index.ts";
import { stateJobs } from "../modules/state/index.ts";
import { storageJobs } from "../platform/storage/index.ts";
import type { Role } from "./role.ts";

/** Every module's job catalog, merged; a duplicate job name is a programming error. */
export function jobCatalog(app: App): JobCatalog {
  const catalogs: JobCatalog[] = [
    workerJobs(app.workers),
    stateJobs(app.state),
    storageJobs(app.storage, app.config.objectStorage),
    app.runs.jobs,
    app.policyJobs,
    app.vcs.jobs,
  ];
  const merged: JobCatalog = {};
  for (const catalog of catalogs) {
    for (const [name, def] of Object.entries(catalog)) {
      if (merged[name]) throw new Error(`job ${name} is defined twice`);
      merged[name] = def;
    }
  }
  return merged;
}

export async function startDrainRole(app: App): Promise<Role> {
  const drain = new Drain({
    pgPool: app.database.pool,
    catalog: jobCatalog(app),
    concurrency: app.config.queue.concurrency,
    pollIntervalMs: app.config.queue.pollIntervalMs,
    log: app.log,
    largeMessages: app.largeMessages,
    // MESSAGE_QUEUE_TYPE=sqs: receive from SQS; NOTIFY only says a row reached the outbox.
    ...(app.sqsQueue ? { backend: app.sqsQueue, listen: false } : {}),
  });
  // With SQS, queue_messages is an outbox: this relay sends committed rows to SQS.
  const relay = app.sqsQueue
    ? new SqsRelay({
        pgPool: app.database.pool,
        backend: app.sqsQueue,
        log: app.log,
        pollIntervalMs: app.config.queue.pollIntervalMs,
      })
    : null;
  // `runs.dispatch` publishes run.assign. With an external broker this process needs its
  // own connection (start() is idempotent when the api role already made it); the
  // built-in broker lives in the api role's process, so a drain role running elsewhere
  // cannot publish, and its dispatched runs fail by the pickup timeout.
  const ownsTransport = app.broker === null;
  if (ownsTransport) await app.transport.start();
  await drain.start();
  relay?.start();
  return {
    name: "drain",
    async stop() {
      await relay?.stop();
      await drain.stop();
      if (ownsTransport) await app.transport.stop();
    },
  };
}
