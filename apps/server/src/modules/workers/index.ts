/**
 * Workers: worker pools, their credentials and tokens, and the live launchers in them.
 * Owns tables `worker_pools` and `workers`; handles the worker → server messages on
 * `<ns>/writeonly/<poolId>/<workerId>` and sends on `<ns>/readonly/...` (topics and
 * messages are defined in `@stackyard/protocol`); job `workers.expire`. It does not
 * schedule or execute runs: dispatching a run to a worker and failing the run of a lost
 * worker belong to the runs module.
 */
export {
  createWorkerService,
  hashCredential,
  type WorkerService,
  type WorkerServiceDeps,
  type IssuedPoolToken,
} from "./worker-service.ts";
export { workerJobs } from "./worker-jobs.ts";
export { workerResolvers } from "./worker-resolvers.ts";
export {
  WorkerNotFoundError,
  WorkerPoolInUseError,
  WorkerPoolNotFoundError,
} from "./worker-errors.ts";
export type { Worker, WorkerPool, WorkerStatus } from "./worker.ts";
