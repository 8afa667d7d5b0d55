-- A non-admin API key acts inside its space (and the spaces below it) with one access
-- level. READ sees stacks and contexts there; WRITE and ADMIN may change them; ADMIN may
-- also manage the spaces below. Existing keys default to the least privilege, READ.
ALTER TABLE api_keys
  ADD COLUMN access_level text NOT NULL DEFAULT 'READ'
    CHECK (access_level IN ('READ', 'WRITE', 'ADMIN'));
