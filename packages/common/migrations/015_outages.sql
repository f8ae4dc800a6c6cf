-- Runs of an action held back by an outage of a dependency of cmq itself (Redis, PostgreSQL):
-- how many times such a run was given back without counting as an attempt. The subscriber gives
-- back at most `retry.max_outages` of them; after that such a run counts like any other transient
-- failure, so a dependency that never comes back cannot keep an action retrying for ever. The
-- count also lengthens the wait before the next run (up to `retry.outage_max_delay`).
ALTER TABLE actions ADD COLUMN outages integer NOT NULL DEFAULT 0;
