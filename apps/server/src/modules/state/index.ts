/**
 * State: the managed OpenTofu/Terraform state of each stack, served over the HTTP state
 * backend protocol at `/state/:stackId` with run-scoped, expiring credentials, kept as
 * immutable encrypted versions (history, rollback, outputs) and one state lock per stack.
 * Owns tables `state_versions` and `state_locks`, the objects in the states bucket, and
 * job `state.collectOrphans`. It reads runs (to decide who may touch state) but never
 * changes them, and does not decide space access for history reads: its callers do.
 */
export {
  createStateService,
  STATE_VERSION_RETENTION_DAYS,
  ORPHAN_GRACE_MS,
  type StateService,
  type StateServiceDeps,
} from "./state-service.ts";
export {
  STATE_CREDENTIALS_AUDIENCE,
  type StateCredentials,
} from "./state-credentials.ts";
export { registerStateRoutes, STATE_BODY_LIMIT_BYTES } from "./state-routes.ts";
export { stateJobs } from "./state-jobs.ts";
export {
  InvalidStateError,
  StateAccessDeniedError,
  StateLineageMismatchError,
  StateLockedError,
  StateLockMismatchError,
  StateSerialError,
  StateVersionNotFoundError,
} from "./state-errors.ts";
export {
  WRITING_STATES,
  type StateCaller,
  type StateLock,
  type StateOutput,
  type StateScope,
  type StateVersion,
} from "./state.ts";
export { stateResolvers } from "./state-resolvers.ts";
