-- Tokens get their own signing key. Until now the RSA key-encryption key both wrapped the
-- data key (RSA-OAEP) and signed every JWT (RS256); one key serving two schemes is what
-- key-separation rules forbid. In RSA mode the server now generates a dedicated RSA
-- signing key on first start after this migration and stores its private half here,
-- encrypted under the data key (the v1 envelope). The key-encryption key keeps wrapping
-- the data key, so every stored secret stays readable; tokens signed before the upgrade
-- (sessions, run tokens, state credentials, transfer URLs) stop verifying and users log
-- in again. KMS mode signs with its KMS signing key and leaves this table empty.
CREATE TABLE signing_keys (
  id                    text PRIMARY KEY,
  private_key_encrypted text NOT NULL,
  active                boolean NOT NULL DEFAULT true,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active;
