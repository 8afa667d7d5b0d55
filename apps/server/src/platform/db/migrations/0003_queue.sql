-- The built-in message queue (platform/queue), replacing graphile-worker: SQS semantics
-- on Postgres (visibility timeout, receive count, dead-letter table, FIFO groups).
-- Producers insert in the transaction of the write that causes the message; drains claim
-- with FOR UPDATE SKIP LOCKED. The rules are documented in platform/queue/queue.ts.

CREATE TABLE queue_messages (
  id             bigserial PRIMARY KEY,
  name           text NOT NULL,                 -- job name, <module>.<verb>
  -- The payload JSON, or (when it is over 256 KiB) the key of an object in the
  -- large-queue-messages bucket holding it. Exactly one of the two is set.
  payload        jsonb,
  payload_object text,
  group_key      text,                          -- FIFO group: one message at a time, in id order
  dedup_key      text UNIQUE,                   -- a second enqueue with a live key is a no-op
  priority       int NOT NULL DEFAULT 0,        -- lower runs first
  visible_at     timestamptz NOT NULL DEFAULT now(),
  receive_count  int NOT NULL DEFAULT 0,
  max_receives   int NOT NULL DEFAULT 3 CHECK (max_receives >= 1),
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_error     text,
  CHECK ((payload IS NULL) <> (payload_object IS NULL))
);

-- The claim scans visible messages by (priority, id); the FIFO check looks for an older
-- message in the same group.
CREATE INDEX queue_messages_claim_idx ON queue_messages (priority, id);
CREATE INDEX queue_messages_group_idx ON queue_messages (group_key, id) WHERE group_key IS NOT NULL;

CREATE TABLE queue_dead_letters (
  id             bigint PRIMARY KEY,            -- the id it had in queue_messages
  name           text NOT NULL,
  payload        jsonb,
  payload_object text,
  group_key      text,
  dedup_key      text,
  priority       int NOT NULL,
  receive_count  int NOT NULL,
  max_receives   int NOT NULL,
  created_at     timestamptz NOT NULL,
  last_error     text,
  failed_at      timestamptz NOT NULL DEFAULT now(),
  reason         text NOT NULL
);

CREATE INDEX queue_dead_letters_failed_at_idx ON queue_dead_letters (failed_at);

-- Wakes LISTENing drains when an enqueue commits (a rolled-back insert notifies nobody).
-- Only a latency hint: drains poll as well.
CREATE FUNCTION queue_messages_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('stackyard_queue', '');
  RETURN NULL;
END;
$$;

CREATE TRIGGER queue_messages_notify AFTER INSERT ON queue_messages
  FOR EACH STATEMENT EXECUTE FUNCTION queue_messages_notify();
