-- OIDC single sign-on for people. Users are created on their first SSO login and known by
-- their IdP subject (issuer + sub); their browser sessions live here, so logout, idle and
-- absolute expiry, and disabling SSO take effect at once (a cookie names a row; a JWT
-- could not be revoked). Sign-in attempts keep the PKCE verifier, state and nonce
-- server-side between the redirect to the IdP and its answer at /oidc/exchange.
ALTER TABLE users
  ADD COLUMN email         text,
  ADD COLUMN sso_issuer    text,
  ADD COLUMN sso_subject   text,
  ADD COLUMN last_login_at timestamptz;
CREATE UNIQUE INDEX users_sso_identity ON users (sso_issuer, sso_subject)
  WHERE sso_subject IS NOT NULL;

-- The cookie holds a random secret; only its sha256 is stored (like API key secrets).
CREATE TABLE user_sessions (
  id            text PRIMARY KEY,
  secret_hash   text NOT NULL UNIQUE,
  user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- How the session began: OIDC (SAML later).
  via           text NOT NULL,
  admin         boolean NOT NULL,
  -- IdP groups at login: the session's `teams` for login policies.
  teams         jsonb NOT NULL DEFAULT '[]',
  -- Space id -> READ/WRITE/ADMIN granted by login policies at login.
  policy_grants jsonb NOT NULL DEFAULT '{}',
  remote_ip     text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  -- Absolute expiry; idle expiry is last_seen_at + the idle timeout.
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

-- One row per redirect to the IdP, consumed (deleted) by its answer; the browser holds
-- only the row's id in a short-lived cookie, which ties the answer to the browser that
-- asked (login CSRF).
CREATE TABLE sso_login_attempts (
  id            text PRIMARY KEY,
  state         text NOT NULL,
  nonce         text NOT NULL,
  code_verifier text NOT NULL,
  return_to     text NOT NULL,
  expires_at    timestamptz NOT NULL
);
