/**
 * Named shapes of the web UI's operations that use Stackyard's additive extensions
 * (fields named `stackyard*` in the SDL). The operations themselves live in
 * packages/api-client/src/operations/*.graphql; every type here is derived from the
 * generated result types, so it follows the SDL.
 */
import {
  RUN_PLAN_CHANGES,
  STACK_STATE_VERSIONS,
  WORKER_POOLS_WITH_RUNS,
  type ResultOf,
} from "@stackyard/api-client";

type Item<T> = T extends ReadonlyArray<infer E> ? E : never;

export {
  RUN_PLAN_CHANGES,
  STACK_FOLDERS,
  STACK_STATE_VERSIONS,
  STATE_ROLLBACK,
  STATE_VERSION_DOWNLOAD_URL,
  WORKER_POOLS_WITH_RUNS,
} from "@stackyard/api-client";

/** `before`/`after` are JSON text of the attributes ("null" for a create/delete). */
export type PlanResourceChange = Item<
  NonNullable<
    NonNullable<ResultOf<typeof RUN_PLAN_CHANGES>["stack"]>["run"]
  >["stackyardPlanChanges"]
>;

/** `createdAt` is Unix seconds. */
export type StateVersionNode = Item<
  NonNullable<
    ResultOf<typeof STACK_STATE_VERSIONS>["stack"]
  >["stackyardStateVersions"]["nodes"]
>;

export type WorkerPoolWithRuns = Item<
  ResultOf<typeof WORKER_POOLS_WITH_RUNS>["workerPools"]
>;
/** `metadata` is a JSON object encoded as a string (graphql-compat §0.5.7). */
export type WorkerWithRun = Item<WorkerPoolWithRuns["workers"]>;
