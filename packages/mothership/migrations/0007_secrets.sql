-- Secrets: values encrypted with AES-256-GCM by the mothership (the database never sees a value
-- in clear), and the secrets each job hands its tasks as environment variables.
CREATE TABLE secrets (
  name        text PRIMARY KEY,
  -- which key encrypted the value: the first 16 hex digits of the key's SHA-256
  key_id      text NOT NULL,
  nonce       bytea NOT NULL,
  ciphertext  bytea NOT NULL,
  auth_tag    bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  uuid REFERENCES api_tokens (id) ON DELETE SET NULL
);

-- Environment variable name -> secret name.
ALTER TABLE jobs ADD COLUMN secrets jsonb NOT NULL DEFAULT '{}';
