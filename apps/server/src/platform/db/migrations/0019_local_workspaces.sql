-- Local previews (spacectl `stack local-preview`, issue 13): a workspace archive uploaded
-- from a user's machine becomes the source of one PROPOSED run instead of a VCS checkout.
--
-- A row is reserved by `uploadLocalWorkspace` (state RESERVED), takes the upload once
-- (RECEIVING while the body is checked and stored, then UPLOADED; a refused body goes
-- back to RESERVED), and is bound to exactly one run of its own stack by
-- `runProposeLocalWorkspace` (run_id, set once). The archive itself lives in the
-- user-uploaded-workspaces bucket, which expires objects after a day.
-- `env_overrides_encrypted` holds the run's environment overrides (a JSON array of
-- {key, value}), encrypted with the installation's data key.
CREATE TABLE local_workspaces (
  id                      text PRIMARY KEY,
  stack_id                text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  created_by              text NOT NULL,
  created_at              timestamptz NOT NULL DEFAULT now(),
  state                   text NOT NULL DEFAULT 'RESERVED' CHECK (state IN ('RESERVED', 'RECEIVING', 'UPLOADED')),
  size_bytes              bigint,
  uploaded_at             timestamptz,
  run_id                  text UNIQUE REFERENCES runs (id) ON DELETE SET NULL,
  env_overrides_encrypted text
);
CREATE INDEX local_workspaces_stack ON local_workspaces (stack_id);
