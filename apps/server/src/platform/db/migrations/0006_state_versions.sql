-- Managed OpenTofu/Terraform state (the HTTP state backend of the state module): every
-- accepted state write becomes an immutable, encrypted STATE VERSION (object in the
-- states bucket, row here), and each stack has at most one state lock.
--
-- Invariants (the state module relies on them; see modules/state/state-service.ts):
-- - A row is inserted only after its object was written, so a row never points to
--   nothing. An object without a row is an orphan, collected after an hour.
-- - At most one current version per stack, enforced by the partial unique index, so two
--   writers racing cannot both become current even if the service's lock were bypassed.
-- - run_id has no foreign key: history and locks outlive deleted runs (a lock whose run
--   no longer exists is stale and is taken over, never left unclearable).

CREATE TABLE state_versions (
  id               text PRIMARY KEY, -- sv_<ulid>
  stack_id         text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  run_id           text,            -- the run that wrote it; null for rollbacks
  serial           bigint NOT NULL CHECK (serial >= 0),
  lineage          text NOT NULL,
  checksum         text NOT NULL,   -- sha256 (hex) of the plaintext state
  size             bigint NOT NULL, -- bytes of the plaintext state
  object_key       text NOT NULL,   -- <stack_id>/<id>.tfstate.enc in the states bucket
  is_current       boolean NOT NULL DEFAULT false,
  created_by       text,            -- the admin who rolled back, for rollback versions
  restored_from_id text,            -- the version a rollback copied
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- When the version stopped being current; retention (30 days) counts from here.
  superseded_at    timestamptz,
  CHECK (is_current = (superseded_at IS NULL))
);
CREATE UNIQUE INDEX state_versions_one_current_per_stack ON state_versions (stack_id) WHERE is_current;
CREATE INDEX state_versions_history ON state_versions (stack_id, created_at DESC, id DESC);
CREATE INDEX state_versions_superseded ON state_versions (superseded_at) WHERE NOT is_current;

CREATE TABLE state_locks (
  stack_id   text PRIMARY KEY REFERENCES stacks (id) ON DELETE CASCADE,
  lock_id    text NOT NULL,  -- the ID tofu generated (LockInfo.ID)
  info       jsonb NOT NULL, -- the LockInfo tofu sent, returned verbatim to contenders
  run_id     text NOT NULL,  -- the holder
  created_at timestamptz NOT NULL DEFAULT now()
);
