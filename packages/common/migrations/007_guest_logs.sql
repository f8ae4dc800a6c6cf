-- Scheduled log collection: the remote files the publisher's LogScheduler collects on a guest
-- (one guest.logs.collect action per guest every logs.collect_interval). NULL: the publisher's
-- logs.paths; an empty array: this guest's logs are not collected on a schedule.
ALTER TABLE guests ADD COLUMN log_paths text[]
  CHECK (log_paths IS NULL OR cardinality(log_paths) <= 100);
