-- Webhooks: HTTP POSTs to other systems when jobs, tasks and runners change (docs/webhooks.md).

CREATE TABLE webhooks (
  -- made by the mothership before the insert: the secret is sealed bound to it
  id                 uuid PRIMARY KEY,
  url                text NOT NULL,
  -- event names, or '*' for every event
  events             text[] NOT NULL CONSTRAINT webhooks_events_check CHECK (cardinality(events) > 0),
  -- an inactive webhook is sent nothing; its pending deliveries wait
  active             boolean NOT NULL DEFAULT true,
  -- the signing secret, AES-256-GCM under the secrets' key (secret-cipher.ts); all null: unsigned
  secret_key_id      text,
  secret_nonce       bytea,
  secret_ciphertext  bytea,
  secret_auth_tag    bytea,
  created_by         uuid REFERENCES api_tokens (id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhooks_secret_whole_check CHECK (
    (secret_key_id IS NULL) = (secret_nonce IS NULL)
    AND (secret_key_id IS NULL) = (secret_ciphertext IS NULL)
    AND (secret_key_id IS NULL) = (secret_auth_tag IS NULL))
);

-- One event to one webhook, tried until delivered or given up. Rows are inserted by the replica
-- where the event happened; any replica's worker sends them.
CREATE TABLE webhook_deliveries (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  webhook_id           uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event                text NOT NULL,
  -- derived from the event alone (job.failed:<job id>:<completed_at>), so the same event
  -- enqueued twice (two replicas, a second publish) is one delivery; null for pings and
  -- redeliveries, which are new on purpose
  dedupe_key           text,
  -- the body's `data`: the job, task or runner as the API showed it (json keeps its key order)
  data                 json NOT NULL,
  -- when the event happened: the body's created_at, kept by a redelivery
  event_at             timestamptz NOT NULL,
  status               text NOT NULL DEFAULT 'pending'
                         CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
  -- attempts started; the claim adds one, and a result is recorded only by the attempt that
  -- still holds that number (a fencing token against a sender whose lease ran out)
  attempts             integer NOT NULL DEFAULT 0,
  -- when a pending delivery is due; while an attempt is in flight, when its lease ends
  next_attempt_at      timestamptz,
  last_status_code     integer,
  last_duration_ms     integer,
  last_error           text,
  redelivery_of        uuid REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  completed_at         timestamptz,
  CONSTRAINT webhook_deliveries_dedupe_key UNIQUE (webhook_id, dedupe_key),
  CONSTRAINT webhook_deliveries_due_check CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
-- The workers' claim walks the due deliveries in order.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- A webhook's deliveries, newest first (the API's list and each webhook's last delivery).
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);

-- Every attempt of a delivery and how it went.
CREATE TABLE webhook_delivery_attempts (
  delivery_id    uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt        integer NOT NULL,
  started_at     timestamptz NOT NULL,
  -- null when no answer came (refused address, timeout, connection error)
  status_code    integer,
  duration_ms    integer NOT NULL,
  error          text,
  -- the start of the answer's body, for reading what the receiver said
  response_body  text,
  PRIMARY KEY (delivery_id, attempt)
);
