import type { ColumnType, Generated } from "kysely";

/**
 * Table types for Kysely, kept beside the SQL migrations that define them. A column
 * added in a migration is added here in the same change.
 */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string | T | undefined, string | T>;

export interface SystemSettingsTable {
  key: string;
  value: Json;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EncryptionKeysTable {
  id: string;
  type: "rsa" | "kms";
  wrapped_key: Buffer;
  active: Generated<boolean>;
  created_at: Timestamp;
}

export interface SigningKeysTable {
  id: string;
  /** PKCS#8 PEM, encrypted under the data key (v1 envelope). */
  private_key_encrypted: string;
  active: Generated<boolean>;
  created_at: Timestamp;
}

export interface SpacesTable {
  id: string;
  name: string;
  description: Generated<string>;
  parent_space_id: string | null;
  inherit_entities: Generated<boolean>;
  labels: Generated<string[]>;
  created_at: Timestamp;
}

export interface UsersTable {
  id: string;
  username: string;
  name: string;
  is_admin: Generated<boolean>;
  created_at: Timestamp;
  /** SSO users (migration 0016): the IdP's email and identity (issuer + sub). */
  email: string | null;
  sso_issuer: string | null;
  sso_subject: string | null;
  last_login_at: Date | null;
}

export interface UserSessionsTable {
  id: string;
  secret_hash: string;
  user_id: string;
  via: "OIDC";
  admin: boolean;
  teams: Json<string[]>;
  policy_grants: Json<Record<string, "READ" | "WRITE" | "ADMIN">>;
  remote_ip: Generated<string>;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Date | null;
}

export interface SsoLoginAttemptsTable {
  id: string;
  state: string;
  nonce: string;
  code_verifier: string;
  return_to: string;
  expires_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  secret_hash: string;
  is_admin: Generated<boolean>;
  space_id: string;
  /**
   * What a non-admin key may do in its space and below (migration 0004); null for keys
   * that hold only role bindings (migration 0015).
   */
  access_level: ColumnType<
    "READ" | "WRITE" | "ADMIN" | null,
    "READ" | "WRITE" | "ADMIN" | null | undefined,
    "READ" | "WRITE" | "ADMIN" | null
  >;
  /** IdP group names the key counts as a member of (migration 0015). */
  teams: Generated<string[]>;
  description: Generated<string>;
  created_by: string | null;
  created_at: Timestamp;
  last_used_at: Date | null;
  deleted_at: Date | null;
}

/** Roles and their actions (migration 0015); built-in roles have is_system. */
export interface RolesTable {
  id: string;
  slug: string;
  name: string;
  description: Generated<string>;
  actions: string[];
  is_system: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** An actor's role in a space; exactly one of the actor columns is set. */
export interface RoleBindingsTable {
  id: string;
  role_id: string;
  space_id: string;
  api_key_id: string | null;
  user_id: string | null;
  stack_id: string | null;
  created_at: Timestamp;
}

export interface WorkerPoolsTable {
  id: string;
  name: string;
  description: Generated<string>;
  space_id: string;
  labels: Generated<string[]>;
  token_hash: string;
  public_key: string | null;
  /** The pool token, encrypted (migration 0013); null for pools issued before. */
  token_encrypted: string | null;
  is_default: Generated<boolean>;
  created_at: Timestamp;
}

export type WorkerStatus = "IDLE" | "BUSY" | "DRAINED" | "GONE";

export interface WorkersTable {
  id: string;
  worker_pool_id: string;
  status: WorkerStatus;
  drained: Generated<boolean>;
  metadata: Json<Record<string, string>>;
  version: Generated<string>;
  registered_at: Timestamp;
  last_heartbeat_at: Timestamp;
  gone_at: Date | null;
  gone_reason: string | null;
  current_run_id: string | null;
}

export type Hooks = Partial<
  Record<
    | "beforeInit"
    | "afterInit"
    | "beforePlan"
    | "afterPlan"
    | "beforeApply"
    | "afterApply"
    | "beforePerform"
    | "afterPerform"
    | "beforeDestroy"
    | "afterDestroy"
    | "afterRun",
    string[]
  >
>;

export interface StacksTable {
  id: string;
  name: string;
  description: Generated<string>;
  labels: Generated<string[]>;
  space_id: string;
  provider: Generated<string>;
  repository: string;
  repository_url: string | null;
  namespace: Generated<string>;
  branch: string;
  project_root: Generated<string>;
  additional_project_globs: Generated<string[]>;
  git_sparse_checkout_paths: Generated<string[]>;
  vcs_integration_id: string | null;
  worker_pool_id: string | null;
  workflow_tool: Generated<"OPEN_TOFU" | "TERRAFORM_FOSS" | "CUSTOM">;
  /** The vendor form the client sent (migration 0013). */
  vendor: Generated<"TERRAFORM" | "OPENTOFU">;
  tool_version: string | null;
  terraform_workspace: string | null;
  external_state_access: Generated<boolean>;
  smart_sanitization: Generated<boolean>;
  runner_image: string | null;
  autodeploy: Generated<boolean>;
  autoretry: Generated<boolean>;
  administrative: Generated<boolean>;
  github_action_deploy: Generated<boolean>;
  local_preview_enabled: Generated<boolean>;
  protect_from_deletion: Generated<boolean>;
  manage_state: Generated<boolean>;
  enable_well_known_secret_masking: Generated<boolean>;
  enable_sensitive_outputs_upload: Generated<boolean>;
  is_disabled: Generated<boolean>;
  hooks: Json<Hooks>;
  locked_by: string | null;
  locked_note: string | null;
  locked_at: Date | null;
  state: Generated<string>;
  state_set_at: Date | null;
  tracked_commit_sha: string | null;
  tracked_commit_message: string | null;
  tracked_commit_author: string | null;
  tracked_commit_at: Date | null;
  tracked_commit_set_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ContextsTable {
  id: string;
  name: string;
  description: Generated<string>;
  labels: Generated<string[]>;
  space_id: string;
  hooks: Json<Hooks>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ContextAttachmentsTable {
  id: string;
  context_id: string;
  stack_id: string;
  priority: Generated<number>;
  created_at: Timestamp;
}

export interface ConfigElementsTable {
  owner_type: "stack" | "context";
  owner_id: string;
  id: string;
  type: "ENVIRONMENT_VARIABLE" | "FILE_MOUNT";
  value_plain: string | null;
  value_encrypted: string | null;
  write_only: Generated<boolean>;
  checksum: string;
  description: Generated<string>;
  created_at: Timestamp;
}

export interface LocalWorkspacesTable {
  id: string;
  stack_id: string;
  created_by: string;
  created_at: Generated<Date>;
  state: Generated<"RESERVED" | "RECEIVING" | "UPLOADED">;
  size_bytes: ColumnType<
    string | null,
    number | null | undefined,
    number | null
  >;
  uploaded_at: ColumnType<
    Date | null,
    Date | string | null | undefined,
    Date | string | null
  >;
  run_id: ColumnType<string | null, string | null | undefined, string | null>;
  env_overrides_encrypted: ColumnType<
    string | null,
    string | null | undefined,
    string | null
  >;
}

export interface RunsTable {
  id: string;
  stack_id: string;
  type: "TRACKED" | "PROPOSED" | "TASK" | "DESTROY";
  blocking: boolean;
  state: string;
  state_version: Generated<number>;
  drift_detection: Generated<boolean>;
  prioritized: Generated<boolean>;
  worker_pool_id: string | null;
  worker_id: string | null;
  commit_sha: string | null;
  commit_message: Generated<string>;
  commit_author: Generated<string>;
  commit_at: Date | null;
  branch: Generated<string>;
  title: Generated<string>;
  command: string | null;
  triggered_by: string | null;
  needs_approval: Generated<boolean>;
  runtime_config: Json | null;
  user_metadata: Json<string[]>;
  delta: Json | null;
  retry_of: string | null;
  failure_reason: string | null;
  /** TASK runs: go from PREPARING straight to PERFORMING (migration 0005). */
  skip_init: Generated<boolean>;
  /** Resource addresses of the pending targeted replan (migration 0005). */
  replan_targets: string[] | null;
  /** The state_version of the run's current hand-over to a worker (migration 0007). */
  worker_assignment: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  started_at: Date | null;
  last_activity_at: Date | null;
  finished_at: Date | null;
}

export interface RunTransitionsTable {
  run_id: string;
  state_version: number;
  state: string;
  actor: string | null;
  note: string | null;
  created_at: Timestamp;
}

export interface RunReviewsTable {
  id: string;
  run_id: string;
  author: string;
  decision: "APPROVE" | "REJECT";
  note: string | null;
  state: string;
  created_at: Timestamp;
}

/** Run log chunks as workers reported them (migration 0007). */
export interface RunLogChunksTable {
  run_id: string;
  state: string;
  state_version: number;
  seq: number;
  text: string;
  created_at: Generated<Date>;
}

export interface QueueMessagesTable {
  id: Generated<number>;
  name: string;
  payload: Json | null;
  payload_object: string | null;
  group_key: string | null;
  dedup_key: string | null;
  priority: Generated<number>;
  visible_at: Generated<Date>;
  receive_count: Generated<number>;
  max_receives: Generated<number>;
  created_at: Timestamp;
  last_error: string | null;
  /** The dedup_key, moved here when the message was first received (migration 0018). */
  claimed_dedup_key: string | null;
}

export interface QueueDeadLettersTable {
  id: number;
  name: string;
  payload: Json | null;
  payload_object: string | null;
  group_key: string | null;
  dedup_key: string | null;
  priority: number;
  receive_count: number;
  max_receives: number;
  created_at: Timestamp;
  last_error: string | null;
  failed_at: Timestamp;
  reason: string;
}

export interface StateVersionsTable {
  id: string;
  stack_id: string;
  run_id: string | null;
  serial: number;
  lineage: string;
  checksum: string;
  size: number;
  object_key: string;
  is_current: Generated<boolean>;
  created_by: string | null;
  restored_from_id: string | null;
  created_at: Timestamp;
  superseded_at: Date | null;
}

export interface StateLocksTable {
  stack_id: string;
  lock_id: string;
  info: Json<Record<string, unknown>>;
  run_id: string;
  created_at: Timestamp;
}

// ---- VCS (migration 0009) ----

export interface VcsIntegrationsTable {
  id: string;
  name: string;
  provider: "GITHUB" | "GITLAB" | "RAW_GIT";
  space_id: string;
  is_default: Generated<boolean>;
  labels: Generated<string[]>;
  description: string | null;
  settings: Json<Record<string, unknown>>;
  secrets_encrypted: string | null;
  checks: Generated<"INDIVIDUAL" | "AGGREGATED">;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface VcsDeliveriesTable {
  integration_id: string;
  delivery_id: string;
  event_name: string;
  received_at: Timestamp;
}

export interface VcsEventsTable {
  id: string;
  integration_id: string | null;
  source: "WEBHOOK" | "POLL";
  delivery_id: string | null;
  kind: string;
  repository: Generated<string>;
  branch: string | null;
  tag: string | null;
  sha: string | null;
  pr_number: number | null;
  note: string | null;
  received_at: Timestamp;
}

export interface VcsEventOutcomesTable {
  event_id: string;
  stack_id: string;
  outcome: "TRACKED" | "PROPOSED" | "IGNORED" | "NOTRIGGER" | "FAILED";
  run_id: string | null;
  reason: string;
  created_at: Timestamp;
  /** Migration 0011: the GIT_PUSH rules that fired, and what acting on them did. */
  rules: Generated<string[]>;
  actions: Generated<string[]>;
}

export interface VcsPollCursorsTable {
  stack_id: string;
  repository: string;
  branch: string;
  sha: string;
  updated_at: Timestamp;
}

export interface VcsRunLinksTable {
  run_id: string;
  stack_id: string;
  commit_sha: string;
  run_type: string;
  integration_id: string | null;
  repository: string;
  pr_number: number | null;
  pr_labels: Generated<string[]>;
  event_id: string | null;
  reported_status: string | null;
  created_at: Timestamp;
}

// Policies (migration 0010)
export interface PoliciesTable {
  id: string;
  name: string;
  description: Generated<string>;
  type: string;
  body: string;
  labels: Generated<string[]>;
  space_id: string;
  engine_type: "REGO_V0" | "REGO_V1";
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface PolicyAttachmentsTable {
  id: string;
  policy_id: string;
  stack_id: string;
  created_at: Timestamp;
}

export interface PolicySamplesTable {
  policy_id: string;
  key: string;
  outcome: string;
  created_at: Timestamp;
}

export interface RunPolicyFlagsTable {
  run_id: string;
  flags: Generated<string[]>;
  updated_at: Timestamp;
}

/** One policy evaluated against a run (migration 0012); owned by the policies module. */
export interface RunPolicyReceiptsTable {
  id: Generated<string>;
  run_id: string;
  policy_id: string;
  policy_name: string;
  type: string;
  outcome: string;
  flags: Generated<string[]>;
  deny: Generated<string[]>;
  warn: Generated<string[]>;
  created_at: Timestamp;
}

export interface PolicyTriggeredRunsTable {
  source_run_id: string;
  stack_id: string;
  run_id: string;
  created_at: Timestamp;
}

export interface LoginPolicyChangesTable {
  id: Generated<boolean>;
  changed_at: Timestamp;
  changed_by: string;
}

export interface PolicyNotificationsTable {
  id: string;
  policy_id: string | null;
  run_id: string | null;
  state_version: number | null;
  kind: "inbox" | "slack" | "webhook" | "pull_request";
  payload: Json;
  created_at: Timestamp;
}

export interface DB {
  system_settings: SystemSettingsTable;
  encryption_keys: EncryptionKeysTable;
  signing_keys: SigningKeysTable;
  spaces: SpacesTable;
  users: UsersTable;
  user_sessions: UserSessionsTable;
  sso_login_attempts: SsoLoginAttemptsTable;
  api_keys: ApiKeysTable;
  roles: RolesTable;
  role_bindings: RoleBindingsTable;
  worker_pools: WorkerPoolsTable;
  workers: WorkersTable;
  stacks: StacksTable;
  contexts: ContextsTable;
  context_attachments: ContextAttachmentsTable;
  config_elements: ConfigElementsTable;
  runs: RunsTable;
  run_transitions: RunTransitionsTable;
  run_reviews: RunReviewsTable;
  run_log_chunks: RunLogChunksTable;
  queue_messages: QueueMessagesTable;
  queue_dead_letters: QueueDeadLettersTable;
  state_versions: StateVersionsTable;
  state_locks: StateLocksTable;
  // VCS (migration 0009)
  vcs_integrations: VcsIntegrationsTable;
  vcs_deliveries: VcsDeliveriesTable;
  vcs_events: VcsEventsTable;
  vcs_event_outcomes: VcsEventOutcomesTable;
  vcs_poll_cursors: VcsPollCursorsTable;
  vcs_run_links: VcsRunLinksTable;
  // Policies (migration 0010)
  policies: PoliciesTable;
  policy_attachments: PolicyAttachmentsTable;
  policy_samples: PolicySamplesTable;
  run_policy_flags: RunPolicyFlagsTable;
  run_policy_receipts: RunPolicyReceiptsTable;
  policy_notifications: PolicyNotificationsTable;
  policy_triggered_runs: PolicyTriggeredRunsTable;
  login_policy_changes: LoginPolicyChangesTable;
  // Local previews (migration 0019)
  local_workspaces: LocalWorkspacesTable;
}
