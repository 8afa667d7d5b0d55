-- Policies (spacelift-reference §2): Rego documents evaluated by OPA, attached to stacks
-- explicitly or through `autoattach:<label>` labels; the index of sampled evaluations
-- (the samples themselves live in the policy-inputs bucket); the flags policies pass
-- between types on the same run; the routing decisions of notification policies; the
-- runs trigger policies started; and when login policies last changed.

CREATE TABLE policies (
  id          text PRIMARY KEY, -- slug of the name, immutable
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  type        text NOT NULL CHECK (type IN ('ACCESS', 'APPROVAL', 'GIT_PUSH', 'INITIALIZATION', 'INTENT', 'LOGIN', 'NOTIFICATION', 'PLAN', 'TASK', 'TRIGGER')),
  body        text NOT NULL,
  labels      text[] NOT NULL DEFAULT '{}',
  space_id    text NOT NULL REFERENCES spaces (id),
  -- The Rego dialect the body was accepted in: REGO_V1, or REGO_V0 (OPA's v0-compatible mode).
  engine_type text NOT NULL CHECK (engine_type IN ('REGO_V0', 'REGO_V1')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policies_type ON policies (type);
CREATE INDEX policies_name ON policies (lower(name), id);

CREATE TABLE policy_attachments (
  id         text PRIMARY KEY, -- pat_<ulid>
  policy_id  text NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
  stack_id   text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (policy_id, stack_id)
);
CREATE INDEX policy_attachments_stack ON policy_attachments (stack_id);

-- One row per sampled evaluation; the object `<policy>/<key>.json` in the policy-inputs
-- bucket holds {input, body, result}. At most the newest 100 per policy, 7 days.
CREATE TABLE policy_samples (
  policy_id  text NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
  key        text NOT NULL,
  outcome    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (policy_id, key)
);
CREATE INDEX policy_samples_age ON policy_samples (policy_id, created_at DESC);

-- `flag` / `reset_flag` results accumulated on a run, read back by later policy types as
-- `run.flags`. Written only by the policies module.
CREATE TABLE run_policy_flags (
  run_id     text PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  flags      text[] NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Routing decisions of notification policies, one row per (run state change, policy,
-- rule output). Stored, not delivered.
CREATE TABLE policy_notifications (
  id          text PRIMARY KEY, -- ntf_<ulid>
  policy_id   text REFERENCES policies (id) ON DELETE SET NULL,
  run_id      text REFERENCES runs (id) ON DELETE CASCADE,
  state_version integer,
  kind        text NOT NULL CHECK (kind IN ('inbox', 'slack', 'webhook', 'pull_request')),
  payload     jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX policy_notifications_run ON policy_notifications (run_id, created_at);

-- Runs started by trigger policies: one per (ended run, target stack), written in the
-- new run's insert transaction, so a retried evaluation never starts a second run.
CREATE TABLE policy_triggered_runs (
  source_run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  stack_id      text NOT NULL,
  run_id        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_run_id, stack_id)
);

-- Run state changes reach trigger and notification policies the way they reach VCS
-- feedback (0009): a transition enqueues `policies.runTransitioned` in its own
-- transaction, only while a policy of a type that cares exists, once per state version.
-- The runs module stays unaware of policies.
CREATE FUNCTION policies_run_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM policies WHERE type = 'NOTIFICATION')
     OR (NEW.state IN ('FINISHED', 'FAILED', 'DISCARDED', 'CANCELED', 'STOPPED', 'SKIPPED')
         AND EXISTS (SELECT 1 FROM policies WHERE type = 'TRIGGER')) THEN
    INSERT INTO queue_messages (name, payload, group_key, dedup_key, max_receives)
    VALUES (
      'policies.runTransitioned',
      jsonb_build_object('runId', NEW.run_id, 'stateVersion', NEW.state_version, 'state', NEW.state),
      'policies.run:' || NEW.run_id,
      'policies.run:' || NEW.run_id || ':' || NEW.state_version,
      3
    )
    ON CONFLICT (dedup_key) DO NOTHING;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER run_transitions_policies AFTER INSERT ON run_transitions
  FOR EACH ROW EXECUTE FUNCTION policies_run_transition();

-- When login policies last changed, and by whom: session tokens issued before it are
-- refused (spacelift-reference §2: any change to login policies invalidates all other
-- sessions). One row at most.
CREATE TABLE login_policy_changes (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  changed_at timestamptz NOT NULL,
  -- The session subject (`api_key:<id>`, `user:<id>`) whose change it was; its own
  -- sessions stay valid.
  changed_by text NOT NULL
);
