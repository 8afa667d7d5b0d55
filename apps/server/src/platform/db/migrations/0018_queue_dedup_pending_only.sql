-- Deduplication holds only against messages no consumer has received yet.
--
-- Before: a message kept its `dedup_key` while in flight, so a request enqueued while the
-- only copy was held by a consumer was dropped. When that consumer died, the message
-- stayed invisible for its whole visibility timeout (300 s) and every request with the
-- same key (`runs.dispatch`, `runs.schedule`) was dropped meanwhile: dispatch starved
-- until the reconciler's tick. Now the claim moves the key to `claimed_dedup_key`, so
-- the next enqueue with that key creates a new pending message and is received at once;
-- at most one pending message per key still coalesces bursts.
--
-- Rolling upgrade: writers keep `ON CONFLICT (dedup_key) DO NOTHING` against the same
-- unique constraint; an old drain that still claims without moving the key gives the
-- old semantics for the messages it holds, nothing breaks.
ALTER TABLE queue_messages ADD COLUMN claimed_dedup_key text;
COMMENT ON COLUMN queue_messages.claimed_dedup_key IS
  'The dedup_key the message was enqueued with, moved here when a consumer first received it (platform/queue/postgres-backend.ts CLAIM_SQL).';
