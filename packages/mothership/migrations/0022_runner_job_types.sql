-- The job types a runner takes, as its solder said at registration (no container runtime: no
-- container jobs; --job-types): what placement's reasons read to say "takes no container jobs".
-- NULL: every type, or a solder that says nothing (older than this column). The claim still
-- filters on the types each claim sends; this column only explains.
ALTER TABLE runners ADD COLUMN job_types text[];
