-- Schedules: a job spec submitted at each slot of a cron expression, in a time zone.
--
-- Exactly one job per schedule and slot, however many replicas fire and however often they
-- restart: the unique key jobs_schedule_fire_key decides (the insert of a fire's job is
-- ON CONFLICT DO NOTHING), not who holds a lock. The claim (claimed_until, taken with
-- FOR UPDATE SKIP LOCKED) only spreads the work so that replicas rarely try the same slot.

CREATE TABLE schedules (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                text NOT NULL,
  -- 5 fields, 6 with seconds, or a nickname (@daily); read by croner
  cron                text NOT NULL,
  -- an IANA name; slots are local times there, DST rules included
  timezone            text NOT NULL DEFAULT 'UTC',
  -- the job spec each fire submits: a POST /jobs body, defaults applied
  job                 jsonb NOT NULL,
  overlap             text NOT NULL DEFAULT 'skip' CONSTRAINT schedules_overlap_check
                        CHECK (overlap IN ('skip', 'allow', 'cancel_running')),
  catch_up            text NOT NULL DEFAULT 'none' CONSTRAINT schedules_catch_up_check
                        CHECK (catch_up IN ('none', 'last')),
  paused              boolean NOT NULL DEFAULT false,
  -- the earliest slot not fired yet; null while paused (resuming starts from the next slot) or
  -- when the cron has no slot left
  next_fire_at        timestamptz,
  -- a replica firing this schedule's due slots holds it until then; past it (the replica died),
  -- another takes the same slots again and the unique key keeps their jobs single
  claimed_until       timestamptz,
  created_by_token_id uuid REFERENCES api_tokens (id) ON DELETE SET NULL,
  created_by_name     text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT schedules_paused_check CHECK (NOT paused OR next_fire_at IS NULL)
);
-- Due schedules, and the scheduler's wake-up time (the earliest next fire).
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
-- The list, by name.
CREATE INDEX schedules_name_idx ON schedules (name, id);

-- What became of each slot: its job, or why it was skipped or failed. A schedule keeps its
-- latest fires only (schedule-fire-store.ts prunes the rest).
CREATE TABLE schedule_fires (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  schedule_id   uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  -- the cron slot, or the moment of a manual trigger
  scheduled_for timestamptz NOT NULL,
  fired_at      timestamptz NOT NULL DEFAULT now(),
  trigger       text NOT NULL CONSTRAINT schedule_fires_trigger_check CHECK (trigger IN ('cron', 'manual')),
  outcome       text NOT NULL CONSTRAINT schedule_fires_outcome_check
                  CHECK (outcome IN ('created', 'skipped', 'failed')),
  -- no foreign key: the id stays when retention deletes the job (its status then reads null)
  job_id        uuid,
  reason        text,
  CONSTRAINT schedule_fires_slot_key UNIQUE (schedule_id, scheduled_for)
);

-- The schedule that submitted a job and the slot it was for. No foreign key: a job keeps the id
-- of its schedule after the schedule is deleted, as the audit log keeps ids.
ALTER TABLE jobs
  ADD COLUMN schedule_id uuid,
  ADD COLUMN scheduled_for timestamptz;
-- One job per schedule and slot, whoever fires it; also finds a schedule's jobs that have not ended.
CREATE UNIQUE INDEX jobs_schedule_fire_key ON jobs (schedule_id, scheduled_for) WHERE schedule_id IS NOT NULL;
