-- VCS integrations (GitHub App, GitLab, raw git) and what the VCS module remembers about
-- the events it handles: webhook deliveries (a delivery id is processed once), events
-- and their per-stack outcome (kept 7 days, so a user can see why nothing ran), raw git
-- poll cursors, and the link from a VCS-triggered run to its commit and pull request
-- (runs are deduplicated per stack, commit and run type; state changes are reported
-- back to the provider).

CREATE TABLE vcs_integrations (
  id                text PRIMARY KEY, -- vcs_<provider>_<ulid>
  -- Immutable: forms the webhook URL <webhooks_endpoint>/webhooks/<name>.
  name              text NOT NULL UNIQUE,
  provider          text NOT NULL CHECK (provider IN ('GITHUB', 'GITLAB', 'RAW_GIT')),
  space_id          text NOT NULL REFERENCES spaces (id),
  is_default        boolean NOT NULL DEFAULT false,
  labels            text[] NOT NULL DEFAULT '{}',
  description       text,
  -- Non-secret provider settings (API and git URLs, app id) as JSON.
  settings          jsonb NOT NULL DEFAULT '{}',
  -- Secret settings (private key, token, webhook secret) as encrypted JSON.
  secrets_encrypted text,
  -- Commit statuses per stack (INDIVIDUAL) or one per run type (AGGREGATED).
  checks            text NOT NULL DEFAULT 'INDIVIDUAL' CHECK (checks IN ('INDIVIDUAL', 'AGGREGATED')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One default integration per provider; stacks without an integration use it.
CREATE UNIQUE INDEX vcs_integrations_one_default ON vcs_integrations (provider) WHERE is_default;

-- Accepted webhook deliveries: the primary key makes a redelivered id a no-op.
CREATE TABLE vcs_deliveries (
  integration_id text NOT NULL REFERENCES vcs_integrations (id) ON DELETE CASCADE,
  delivery_id    text NOT NULL,
  event_name     text NOT NULL,
  received_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (integration_id, delivery_id)
);
CREATE INDEX vcs_deliveries_received ON vcs_deliveries (received_at);

-- Every handled event (webhook or raw git poll), whatever came of it.
CREATE TABLE vcs_events (
  id             text PRIMARY KEY, -- vev_<ulid>
  integration_id text REFERENCES vcs_integrations (id) ON DELETE CASCADE,
  source         text NOT NULL CHECK (source IN ('WEBHOOK', 'POLL')),
  delivery_id    text,
  kind           text NOT NULL, -- push | pull_request | ignored
  repository     text NOT NULL DEFAULT '',
  branch         text,
  tag            text,
  sha            text,
  pr_number      integer,
  -- Set when the event as a whole was ignored (unsupported event, no stack uses the repo).
  note           text,
  received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vcs_events_received ON vcs_events (received_at);

-- What an event did to each stack it concerned: a run, or nothing and why.
CREATE TABLE vcs_event_outcomes (
  event_id   text NOT NULL REFERENCES vcs_events (id) ON DELETE CASCADE,
  stack_id   text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  outcome    text NOT NULL CHECK (outcome IN ('TRACKED', 'PROPOSED', 'IGNORED')),
  run_id     text,
  reason     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, stack_id)
);
CREATE INDEX vcs_event_outcomes_stack ON vcs_event_outcomes (stack_id, created_at DESC);

-- The last commit the poller saw on a raw git stack's tracked branch.
CREATE TABLE vcs_poll_cursors (
  stack_id   text PRIMARY KEY REFERENCES stacks (id) ON DELETE CASCADE,
  repository text NOT NULL,
  branch     text NOT NULL,
  sha        text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A run started by a VCS event. The unique key is the dedup rule: one run per stack,
-- commit and run type, enforced here in the run's own insert transaction.
CREATE TABLE vcs_run_links (
  run_id          text PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  stack_id        text NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
  commit_sha      text NOT NULL,
  run_type        text NOT NULL,
  integration_id  text REFERENCES vcs_integrations (id) ON DELETE SET NULL,
  repository      text NOT NULL,
  pr_number       integer,
  pr_labels       text[] NOT NULL DEFAULT '{}',
  event_id        text,
  -- The last commit status sent (pending/success/failure), so repeats are skipped.
  reported_status text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stack_id, commit_sha, run_type)
);
CREATE INDEX vcs_run_links_pr ON vcs_run_links (integration_id, repository, pr_number)
  WHERE pr_number IS NOT NULL;
CREATE INDEX vcs_run_links_commit ON vcs_run_links (integration_id, repository, commit_sha);

-- Feedback on run state changes: every transition of a VCS-linked run enqueues
-- `vcs.reportStatus` in the transition's own transaction, in a FIFO group per run so the
-- provider sees the states in order. The runs module stays unaware of VCS; a run without
-- a link costs one index lookup.
CREATE FUNCTION vcs_run_transition_feedback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM vcs_run_links WHERE run_id = NEW.run_id) THEN
    INSERT INTO queue_messages (name, payload, group_key, max_receives)
    VALUES (
      'vcs.reportStatus',
      jsonb_build_object('runId', NEW.run_id, 'stateVersion', NEW.state_version, 'state', NEW.state),
      'vcs.feedback:' || NEW.run_id,
      3
    );
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER run_transitions_vcs_feedback AFTER INSERT ON run_transitions
  FOR EACH ROW EXECUTE FUNCTION vcs_run_transition_feedback();
