/**
 * The message queue: `enqueue` (inside the caller's transaction) and the `Drain` that
 * runs job handlers from the module catalogs. Generic: job names and payloads belong to
 * the modules.
 */
export { enqueue, defineJob, PermanentJobError, type JobCatalog, type JobDefinition, type JobContext, type EnqueueOptions } from "./queue.ts";
export { Drain, migrateQueue } from "./drain.ts";
