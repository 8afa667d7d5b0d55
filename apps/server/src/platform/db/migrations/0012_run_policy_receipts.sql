-- Policy receipts of a run: one row per policy evaluated against the run (plan,
-- approval, trigger, ...), in evaluation order, so notification inputs can list them as
-- `policy_receipts[]{name,type,outcome,flags}` (spacelift-reference §2). `flags` are the
-- flags that policy's `flag` rule set; `deny` / `warn` its messages (plan policies, for
-- `plan_policy_decision`). Rows go with the run.
CREATE TABLE run_policy_receipts (
  id          bigserial PRIMARY KEY,
  run_id      text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  policy_id   text NOT NULL,
  policy_name text NOT NULL,
  type        text NOT NULL,
  outcome     text NOT NULL,
  flags       text[] NOT NULL DEFAULT '{}',
  deny        text[] NOT NULL DEFAULT '{}',
  warn        text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX run_policy_receipts_run_idx ON run_policy_receipts (run_id, id);
