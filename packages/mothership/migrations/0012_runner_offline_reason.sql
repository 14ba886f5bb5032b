-- Why an offline runner is offline: 'stopped' when its solder said it was leaving (a final
-- heartbeat with status 'stopping', after draining); null when it went silent, or is online.
ALTER TABLE runners ADD COLUMN offline_reason text
  CONSTRAINT runners_offline_reason_check CHECK (offline_reason IN ('stopped'));
