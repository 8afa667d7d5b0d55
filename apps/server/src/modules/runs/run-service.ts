/**
 * Run use cases, by file: creating runs (run-create.ts), the user actions of the state
 * machine (run-user-actions.ts) and the reads behind the GraphQL `Run` type
 * (run-reads.ts), sharing the access-checked loaders of run-service-context.ts.
 *
 * Access: writes need WRITE on the stack's space, reads READ; a run or stack the caller
 * cannot see is "not found". Every action is checked by the pure rules, then written as a
 * compare-and-set with its follow-up jobs in one transaction.
 */
import { createRunCreation } from "./run-create.ts";
import { createRunReads } from "./run-reads.ts";
import {
  createRunServiceContext,
  type RunServiceDeps,
} from "./run-service-context.ts";
import { createRunUserActions } from "./run-user-actions.ts";

export {
  RUN_LIST_TYPES,
  type RunList,
  type RunRef,
  type RunServiceDeps,
} from "./run-service-context.ts";
export type { TriggerInput } from "./run-create.ts";

export function createRunService(deps: RunServiceDeps) {
  const ctx = createRunServiceContext(deps);
  return {
    ...createRunCreation(deps, ctx),
    ...createRunUserActions(deps, ctx),
    ...createRunReads(deps, ctx),
  };
}

export type RunService = ReturnType<typeof createRunService>;
