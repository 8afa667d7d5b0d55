-- Roles in spaces (issue 15): an actor (API key, user or stack) holds a role in a space
-- through a role binding, and a role is a set of actions from the Action catalogue.
--
-- The four built-in roles are rows with is_system = true and fixed ids (their slugs);
-- they cannot be changed or deleted. A role with bindings cannot be deleted either
-- (ON DELETE RESTRICT): its bindings go first, as Terraform orders it.
--
-- Keys created before this keep their single space and access level (migration 0004);
-- that pair reads as a binding of the matching built-in role. Keys created through
-- apiKeyCreate have no such pair (access_level NULL) and hold only their bindings.
CREATE TABLE roles (
  id          text PRIMARY KEY,
  slug        text NOT NULL UNIQUE,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  actions     text[] NOT NULL,
  is_system   boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO roles (id, slug, name, description, actions, is_system) VALUES
  ('space-reader', 'space-reader', 'Space reader',
   'Reads everything in the space and the spaces below it.', '{SPACE_READ}', true),
  ('space-writer', 'space-writer', 'Space writer',
   'Space reader, and triggers and confirms runs and changes configuration.', '{SPACE_WRITE}', true),
  ('space-admin', 'space-admin', 'Space admin',
   'Space writer, and creates and manages stacks, contexts, policies and spaces below.', '{SPACE_ADMIN}', true),
  ('worker-pool-controller', 'worker-pool-controller', 'Worker pool controller',
   'Manages worker pools and their workers (the Kubernetes controller''s role).',
   '{SPACE_READ,WORKER_POOL_CREATE,WORKER_POOL_UPDATE,WORKER_POOL_DELETE,WORKER_POOL_CYCLE,WORKER_POOL_RESET,WORKER_DRAIN_SET}',
   true);

-- Exactly one actor per binding; a binding dies with its actor and its space.
CREATE TABLE role_bindings (
  id         text PRIMARY KEY,
  role_id    text NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
  space_id   text NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
  api_key_id text REFERENCES api_keys (id) ON DELETE CASCADE,
  user_id    text REFERENCES users (id) ON DELETE CASCADE,
  stack_id   text REFERENCES stacks (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (num_nonnulls(api_key_id, user_id, stack_id) = 1)
);
CREATE UNIQUE INDEX role_bindings_api_key_unique ON role_bindings (api_key_id, role_id, space_id)
  WHERE api_key_id IS NOT NULL;
CREATE UNIQUE INDEX role_bindings_user_unique ON role_bindings (user_id, role_id, space_id)
  WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX role_bindings_stack_unique ON role_bindings (stack_id, role_id, space_id)
  WHERE stack_id IS NOT NULL;
CREATE INDEX role_bindings_role ON role_bindings (role_id);

-- IdP group names a key counts as a member of (`teams`), its description, and the
-- legacy single-space pair made optional for keys that hold only bindings.
ALTER TABLE api_keys
  ADD COLUMN teams text[] NOT NULL DEFAULT '{}',
  ADD COLUMN description text NOT NULL DEFAULT '',
  ALTER COLUMN access_level DROP NOT NULL;
