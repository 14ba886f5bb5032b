-- Roles for user tokens, who created each token and each job, and the audit log.

-- What a user token may do: viewer < submitter < operator < admin. Other kinds have no role.
ALTER TABLE api_tokens ADD COLUMN role text
  CONSTRAINT api_tokens_role_check CHECK (role IN ('viewer', 'submitter', 'operator', 'admin'));
-- Every user token made before roles existed could do everything: it stays an admin.
UPDATE api_tokens SET role = 'admin' WHERE kind = 'user';
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_kind_check CHECK ((kind = 'user') = (role IS NOT NULL));
-- The token that created this one (null for tokens made at start-up or by registration).
ALTER TABLE api_tokens ADD COLUMN created_by uuid REFERENCES api_tokens (id) ON DELETE SET NULL;

-- The token that submitted the job, and its name then (a token's name may change or go).
ALTER TABLE jobs ADD COLUMN created_by_token_id uuid REFERENCES api_tokens (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN created_by_name text;

-- One row per state-changing call and per download, written after the answer: who (the token,
-- its name and role then), from where, what, on which object, and how it ended.
CREATE TABLE audit_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  token_id     uuid,
  token_name   text,
  token_kind   text,
  role         text,
  address      text NOT NULL,
  action       text NOT NULL,
  object_type  text,
  object_id    text,
  -- the HTTP status of the answer; the outcome is derived from it
  status       integer NOT NULL,
  outcome      text NOT NULL CONSTRAINT audit_events_outcome_check CHECK (outcome IN ('ok', 'refused', 'failed')),
  request_id   text
);
-- Pages walk the id (the order entries were written in) newest first, within one filter's index.
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_token_idx ON audit_events (token_id, id DESC);
CREATE INDEX audit_events_object_idx ON audit_events (object_id, id DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, id DESC);

-- Append-only: an entry, once written, is never changed or removed by the application.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
