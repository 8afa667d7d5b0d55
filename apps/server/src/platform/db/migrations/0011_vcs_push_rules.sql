-- Push policy rules acted on by the VCS push pipeline: an event outcome can now be
-- NOTRIGGER (a push policy's `notrigger`: no run) or FAILED (`fail`: no run, the stack's
-- commit status fails), and records which GIT_PUSH rules fired and what acting on the
-- side rules did (cancel, prioritize, lock, unlock, flags), one line per action.

ALTER TABLE vcs_event_outcomes
  DROP CONSTRAINT vcs_event_outcomes_outcome_check,
  ADD CONSTRAINT vcs_event_outcomes_outcome_check
    CHECK (outcome IN ('TRACKED', 'PROPOSED', 'IGNORED', 'NOTRIGGER', 'FAILED')),
  ADD COLUMN rules   text[] NOT NULL DEFAULT '{}',
  ADD COLUMN actions text[] NOT NULL DEFAULT '{}';
