/**
 * State: the managed OpenTofu/Terraform state of each stack, served over the HTTP state
 * backend protocol at `/state/:stackId` with run-scoped, expiring credentials, kept as
 * immutable encrypted versions (history, rollback, outputs) and one state lock per stack.
 * Owns tables `state_versions` and `state_locks`, the objects in the states bucket, and
 * job `state.collectOrphans`. It reads runs (to decide who may touch state) but never
 * changes them. The backend core (state-service.ts) takes one space decision: users
 * outside the platform using the backend with their own credentials (external state
 * access) get what their access level on the stack's space allows. The user-facing operations (state-operations.ts: history, download/upload URLs, import,
 * rollback, force-unlock) check space access through the stacks module. Imported state
 * files arrive through the uploads bucket.
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
  type StateCaller,
  type StateLock,
  type StateOutput,
  type StateScope,
  type StateVersion,
} from "./state.ts";
export { stateResolvers, stateOperationResolvers } from "./state-resolvers.ts";
export {
  createStateOperations,
  STATE_IMPORT_LIMIT_BYTES,
  STATE_TRANSFER_TTL_SECONDS,
  StateUploadTooLargeError,
  type StateOperations,
  type StateOperationsDeps,
  type StateVersionView,
  type StateLockView,
} from "./state-operations.ts";
export { registerStateApiRoutes } from "./state-api-routes.ts";
