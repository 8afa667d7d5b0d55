-- Runs execute on workers (#4): which hand-over of a run to a worker is current, and the
-- run logs workers report.
--
-- - runs.worker_assignment: the run's state_version when it was last handed to a worker
--   (the `assignment` of `run.assign`). Worker reports carry it back; a report naming an
--   older assignment is acknowledged and ignored.
-- - run_log_chunks: log chunks exactly as the worker sent them, keyed by the version of
--   the state they belong to (the run_transitions row that entered it) and the worker's
--   sequence number, so a retried chunk is stored once. Chunks of ended runs are moved
--   to the run-logs bucket (one object per state version) by `runs.archiveLogs`; the
--   reader merges the object and any rows left, so nothing is lost either way.

ALTER TABLE runs ADD COLUMN worker_assignment integer;

CREATE TABLE run_log_chunks (
  run_id        text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  state         text NOT NULL,
  state_version integer NOT NULL,
  seq           integer NOT NULL CHECK (seq >= 0),
  text          text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, state_version, seq)
);
