-- The runner protocol version each runner speaks, as it said at registration. Solders from before
-- the field spoke version 1.
ALTER TABLE runners ADD COLUMN protocol_version integer NOT NULL DEFAULT 1;
