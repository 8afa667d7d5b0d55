-- Foundation: instance settings, the wrapped data-encryption key, spaces, users, API keys,
-- worker pools and workers. Everything later hangs off these.

-- One row per instance-wide fact that must never silently change (for example the
-- encryption type: switching it would make every stored secret unreadable).
CREATE TABLE system_settings (
  key        text PRIMARY KEY,
  value      jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The AES-256 data key, encrypted ("wrapped") by the RSA key or KMS. Only one is active.
CREATE TABLE encryption_keys (
  id          text PRIMARY KEY,
  type        text NOT NULL CHECK (type IN ('rsa', 'kms')),
  wrapped_key bytea NOT NULL,
  active      boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX encryption_keys_one_active ON encryption_keys (active) WHERE active;

CREATE TABLE spaces (
  id               text PRIMARY KEY,
  name             text NOT NULL,
  description      text NOT NULL DEFAULT '',
  parent_space_id  text REFERENCES spaces (id),
  inherit_entities boolean NOT NULL DEFAULT false,
  labels           text[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((id = 'root') = (parent_space_id IS NULL))
);
INSERT INTO spaces (id, name, description) VALUES ('root', 'root', 'The root of all spaces.');

CREATE TABLE users (
  id         text PRIMARY KEY,
  username   text NOT NULL UNIQUE,
  name       text NOT NULL,
  is_admin   boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- An API key is a virtual user: the id is public, only a hash of the secret is stored.
CREATE TABLE api_keys (
  id           text PRIMARY KEY,
  name         text NOT NULL,
  secret_hash  text NOT NULL,
  is_admin     boolean NOT NULL DEFAULT false,
  space_id     text NOT NULL REFERENCES spaces (id),
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  deleted_at   timestamptz
);

CREATE TABLE worker_pools (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  space_id    text NOT NULL REFERENCES spaces (id),
  labels      text[] NOT NULL DEFAULT '{}',
  -- sha256 of the pool credential carried inside the pool token.
  token_hash  text NOT NULL,
  public_key  text,
  is_default  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX worker_pools_one_default ON worker_pools (is_default) WHERE is_default;

CREATE TABLE workers (
  id                text PRIMARY KEY,
  worker_pool_id    text NOT NULL REFERENCES worker_pools (id) ON DELETE CASCADE,
  status            text NOT NULL CHECK (status IN ('IDLE', 'BUSY', 'DRAINED', 'GONE')),
  drained           boolean NOT NULL DEFAULT false,
  metadata          jsonb NOT NULL DEFAULT '{}',
  version           text NOT NULL DEFAULT '',
  registered_at     timestamptz NOT NULL DEFAULT now(),
  last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
  gone_at           timestamptz,
  gone_reason       text
);
CREATE INDEX workers_pool_status ON workers (worker_pool_id, status);
