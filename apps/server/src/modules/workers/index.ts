/**
 * Workers: worker pools, their credentials and tokens, and the live launchers in them.
 * Owns tables `worker_pools` and `workers`; handles the worker → server messages on
 * `<ns>/writeonly/<poolId>/<workerId>` and sends on `<ns>/readonly/...` (topics and
 * messages are defined in `@stackyard/protocol`); job `workers.expire`. It does not
 * schedule or execute runs: dispatching a run to a worker and failing the run of a lost
 * worker belong to the runs module, which gets `claimIdleWorker`/`releaseWorker` (the
 * only writes of `workers` made on its behalf, inside its transactions) from the
 * composition root, and is told of lost workers through `onWorkersGone`.
 */
export {
  createWorkerService,
  hashCredential,
  type WorkerService,
  type WorkerServiceDeps,
  type IssuedPoolToken,
} from "./worker-service.ts";
export { workerJobs } from "./worker-jobs.ts";
export { claimIdleWorker, releaseWorker } from "./worker-repo.ts";
export {
  workerResolvers,
  type WorkerNode,
  type WorkerPoolNode,
} from "./worker-resolvers.ts";
export {
  WorkerNotFoundError,
  WorkerPoolInUseError,
  WorkerPoolNotFoundError,
} from "./worker-errors.ts";
export type { Worker, WorkerPool, WorkerStatus } from "./worker.ts";
