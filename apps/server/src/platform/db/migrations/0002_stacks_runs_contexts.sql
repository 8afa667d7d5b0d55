-- The control plane's data model: stacks, contexts and their attachments, environment
-- variables and mounted files (config elements), runs and their transition log.

CREATE TABLE stacks (
  id                              text PRIMARY KEY, -- the slug, immutable
  name                            text NOT NULL,
  description                     text NOT NULL DEFAULT '',
  labels                          text[] NOT NULL DEFAULT '{}',
  space_id                        text NOT NULL REFERENCES spaces (id),
  provider                        text NOT NULL DEFAULT 'GIT',
  repository                      text NOT NULL,
  repository_url                  text,
  namespace                       text NOT NULL DEFAULT '',
  branch                          text NOT NULL,
  project_root                    text NOT NULL DEFAULT '',
  additional_project_globs        text[] NOT NULL DEFAULT '{}',
  git_sparse_checkout_paths       text[] NOT NULL DEFAULT '{}',
  vcs_integration_id              text,
  worker_pool_id                  text REFERENCES worker_pools (id),
  -- OPEN_TOFU or TERRAFORM_FOSS, and the version to run (null: the worker's default).
  workflow_tool                   text NOT NULL DEFAULT 'OPEN_TOFU' CHECK (workflow_tool IN ('OPEN_TOFU', 'TERRAFORM_FOSS', 'CUSTOM')),
  tool_version                    text,
  terraform_workspace             text,
  external_state_access           boolean NOT NULL DEFAULT false,
  smart_sanitization              boolean NOT NULL DEFAULT false,
  runner_image                    text,
  autodeploy                      boolean NOT NULL DEFAULT false,
  autoretry                       boolean NOT NULL DEFAULT false,
  administrative                  boolean NOT NULL DEFAULT false,
  github_action_deploy            boolean NOT NULL DEFAULT true,
  local_preview_enabled           boolean NOT NULL DEFAULT false,
  protect_from_deletion           boolean NOT NULL DEFAULT false,
  manage_state                    boolean NOT NULL DEFAULT true,
  enable_well_known_secret_masking boolean NOT NULL DEFAULT false,
  enable_sensitive_outputs_upload boolean NOT NULL DEFAULT true,
  is_disabled                     boolean NOT NULL DEFAULT false,
  -- {"beforeInit": ["cmd", ...], "afterApply": [...], ...}: the 11 hook lists.
  hooks                           jsonb NOT NULL DEFAULT '{}',
  -- A user's lock (spacectl stack lock); independent of the run lock below.
  locked_by                       text,
  locked_note                     text,
  locked_at                       timestamptz,
  state                           text NOT NULL DEFAULT 'NONE',
  state_set_at                    timestamptz,
  tracked_commit_sha              text,
  tracked_commit_message          text,
  tracked_commit_author           text,
  tracked_commit_at               timestamptz,
  tracked_commit_set_by           text,
  created_at                      timestamptz NOT NULL DEFAULT now(),
  updated_at                      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stacks_space ON stacks (space_id);
CREATE INDEX stacks_labels ON stacks USING gin (labels);
CREATE INDEX stacks_name ON stacks (lower(name), id);

CREATE TABLE contexts (
  id          text PRIMARY KEY, -- slug
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  labels      text[] NOT NULL DEFAULT '{}',
  space_id    text NOT NULL REFERENCES spaces (id),
  hooks       jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE context_attachments (
  id         text PRIMARY KEY,
  context_id text NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
  stack_id   text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  priority   integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (context_id, stack_id)
);

-- Environment variables and mounted files of a stack or a context. A write-only
-- (secret) value is stored only encrypted; plain values are stored as-is. The checksum
-- (sha256 of the plaintext) is what the API shows for secrets.
CREATE TABLE config_elements (
  owner_type      text NOT NULL CHECK (owner_type IN ('stack', 'context')),
  owner_id        text NOT NULL,
  id              text NOT NULL, -- variable name, or relative path of a mounted file
  type            text NOT NULL CHECK (type IN ('ENVIRONMENT_VARIABLE', 'FILE_MOUNT')),
  value_plain     text,
  value_encrypted text,
  write_only      boolean NOT NULL DEFAULT false,
  checksum        text NOT NULL,
  description     text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (owner_type, owner_id, id),
  CHECK ((write_only AND value_plain IS NULL AND value_encrypted IS NOT NULL)
      OR (NOT write_only AND value_plain IS NOT NULL AND value_encrypted IS NULL))
);

CREATE TABLE runs (
  id                  text PRIMARY KEY, -- run_<ulid>
  stack_id            text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  type                text NOT NULL CHECK (type IN ('TRACKED', 'PROPOSED', 'TASK', 'DESTROY')),
  -- TRACKED, TASK and DESTROY runs take the stack's exclusive lock.
  blocking            boolean NOT NULL,
  state               text NOT NULL,
  -- Incremented by every transition; equals the newest run_transitions.state_version.
  state_version       integer NOT NULL DEFAULT 1,
  drift_detection     boolean NOT NULL DEFAULT false,
  prioritized         boolean NOT NULL DEFAULT false,
  worker_pool_id      text REFERENCES worker_pools (id),
  worker_id           text,
  commit_sha          text,
  commit_message      text NOT NULL DEFAULT '',
  commit_author       text NOT NULL DEFAULT '',
  commit_at           timestamptz,
  branch              text NOT NULL DEFAULT '',
  title               text NOT NULL DEFAULT '',
  command             text,
  triggered_by        text,
  needs_approval      boolean NOT NULL DEFAULT false,
  runtime_config      jsonb,
  user_metadata       jsonb NOT NULL DEFAULT '[]',
  delta               jsonb,
  retry_of            text,
  failure_reason      text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  last_activity_at    timestamptz,
  finished_at         timestamptz
);
CREATE INDEX runs_stack_created ON runs (stack_id, created_at DESC, id DESC);
CREATE INDEX runs_pending ON runs (state, prioritized DESC, created_at, id)
  WHERE state IN ('QUEUED', 'READY', 'CONFIRMED', 'REPLAN_REQUESTED');
CREATE INDEX runs_active ON runs (state) WHERE state NOT IN ('FINISHED', 'FAILED', 'DISCARDED', 'CANCELED', 'STOPPED', 'SKIPPED');
-- The stack's exclusive run lock, enforced by the database: at most one blocking run
-- of a stack may be past QUEUED and not yet terminal. Two schedulers racing to start
-- blocking runs of one stack cannot both succeed.
CREATE UNIQUE INDEX runs_one_active_blocking_per_stack ON runs (stack_id)
  WHERE blocking AND state NOT IN ('QUEUED', 'FINISHED', 'FAILED', 'DISCARDED', 'CANCELED', 'STOPPED', 'SKIPPED');

CREATE TABLE run_transitions (
  run_id        text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  state_version integer NOT NULL,
  state         text NOT NULL,
  actor         text,
  note          text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, state_version)
);

ALTER TABLE workers ADD COLUMN current_run_id text;
