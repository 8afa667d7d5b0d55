-- The run engine's extra facts: a task's "skip initialization" flag, the resources a
-- targeted replan asks for, and the reviews (approve/reject) people leave on runs.

ALTER TABLE runs ADD COLUMN skip_init boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN replan_targets text[];

CREATE TABLE run_reviews (
  id         text PRIMARY KEY, -- rvw_<ulid>
  run_id     text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  author     text NOT NULL,
  decision   text NOT NULL CHECK (decision IN ('APPROVE', 'REJECT')),
  note       text,
  -- The run's state once the review was counted.
  state      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_reviews_run ON run_reviews (run_id, created_at);
