-- History at scale (docs/history.md, decision 0018): retention of final actions, and
-- action_events partitioned by day so that expired history leaves by DROP TABLE, not by vacuum.

-- 1. action_events becomes a table partitioned by range of `at`, one partition per UTC day.
--
-- The existing table is taken over without copying a row: given a CHECK constraint that proves
-- every row lies before the first day partition (so ATTACH does not scan), renamed, and attached
-- as the partition action_events_legacy (MINVALUE .. the cutover). Nothing is rewritten or
-- re-indexed. The legacy partition keeps its own primary key and BRIN index; the parent has no
-- index of its own (a parent index would have to be built on the legacy table), every day
-- partition gets the same two from cmq_action_events_partition(). The legacy partition is
-- dropped like any day once retention has emptied it of every live action's event.
--
-- The long work runs first, in online steps (`-- cmq:online`, docs/migrations.md, decision
-- 0025) that hold no lock stopping reads or writes, so services of the previous release may go
-- on writing meanwhile; only the short transactional part at the end locks action_events.
-- (The first text of this file did it all in one transaction; its schema is the same.)

-- The CHECK, NOT VALID: added in a moment (its ACCESS EXCLUSIVE lock waits at most 5 s), checked
-- for every new row from then on, validated for the old ones by the next step. The cutover is
-- the start of the UTC day after tomorrow, so that the events written while the migration runs
-- (dated by their clock) satisfy it even across midnight. A rerun keeps the constraint of a
-- failed run while its cutover is more than a day ahead, else replaces it.
-- cmq:online
DO $$
DECLARE
  held timestamptz;
BEGIN
  PERFORM set_config('lock_timeout', '5s', true);
  SELECT substring(pg_get_constraintdef(oid) FROM '''([^'']*)''')::timestamptz INTO held
  FROM pg_constraint WHERE conrelid = 'action_events'::regclass AND conname = 'action_events_legacy_range';
  IF held > now() + interval '1 day' THEN
    RETURN;
  END IF;
  IF held IS NOT NULL THEN
    ALTER TABLE action_events DROP CONSTRAINT action_events_legacy_range;
  END IF;
  EXECUTE format('ALTER TABLE action_events ADD CONSTRAINT action_events_legacy_range CHECK (at < %L) NOT VALID',
                 date_trunc('day', now(), 'UTC') + interval '2 days');
END $$;

-- The one scan of the existing events (docs/history.md gives its time for 10 million rows),
-- under SHARE UPDATE EXCLUSIVE: reads and writes go on. A rerun finds it valid and does nothing.
-- cmq:online
ALTER TABLE action_events VALIDATE CONSTRAINT action_events_legacy_range;

-- 2. Retention of final actions: the sweep walks final actions by state and age, oldest first.
-- One more index entry per finished action (the finishing UPDATE is never HOT: it changes
-- state, which partial indexes name), instead of a scan of every action per batch.
-- cmq:online
CREATE INDEX CONCURRENTLY IF NOT EXISTS actions_final ON actions (state, finished_at)
  WHERE state IN ('succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected');

-- `cmq actions --tenant T` lists a tenant's newest actions: without this it walked the primary
-- key backwards through every other tenant's history (docs/history.md, what reads history).
-- cmq:online
CREATE INDEX CONCURRENTLY IF NOT EXISTS actions_tenant_recent ON actions (tenant_id, id);

-- The other tables that grow with work are deleted by age in batches: resource_changes by its
-- (tenant_id, at, id) index would need one scan per tenant, so it gets an index on age alone.
-- cmq:online
CREATE INDEX CONCURRENTLY IF NOT EXISTS resource_changes_at ON resource_changes (at);

-- 3. The takeover, in one short transaction that waits at most 5 s for its lock (rather than
-- queue every writer behind it for longer; the migration fails and can be run again). The
-- table is locked first, so that no event is written between reading the identity's next value
-- and moving the identity; the cutover is the one the validated constraint holds.
-- cmq:transaction
SET LOCAL lock_timeout = '5s';
LOCK TABLE action_events IN ACCESS EXCLUSIVE MODE;

DO $$
DECLARE
  cutover timestamptz;
  next_id bigint;
BEGIN
  SELECT substring(pg_get_constraintdef(oid) FROM '''([^'']*)''')::timestamptz INTO cutover
  FROM pg_constraint
  WHERE conrelid = 'action_events'::regclass AND conname = 'action_events_legacy_range' AND convalidated;
  IF cutover IS NULL THEN
    RAISE EXCEPTION 'action_events has no validated constraint action_events_legacy_range: run `cmq migrate` again';
  END IF;
  SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO next_id FROM action_events_id_seq;
  ALTER TABLE action_events RENAME TO action_events_legacy;
  ALTER INDEX action_events_pkey RENAME TO action_events_legacy_pkey;
  ALTER INDEX action_events_id RENAME TO action_events_legacy_id;
  -- The identity moves to the parent (the legacy table's sequence goes with its identity).
  ALTER TABLE action_events_legacy ALTER COLUMN id DROP IDENTITY;
  CREATE TABLE action_events (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    action_id   bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    from_state  text,
    to_state    text NOT NULL,
    actor       text NOT NULL,
    reason      text
  ) PARTITION BY RANGE (at);
  EXECUTE format('ALTER TABLE action_events ALTER COLUMN id RESTART WITH %s', next_id);
  EXECUTE format('ALTER TABLE action_events ATTACH PARTITION action_events_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cutover);
END $$;

-- Rows whose day has no partition yet (the lease holder creates them `history.partitions_ahead`
-- days ahead; a database left without any publisher for longer) land here instead of failing
-- the transition that writes them. `cmq history stats` shows it; it should stay empty.
CREATE TABLE action_events_default PARTITION OF action_events DEFAULT;
ALTER TABLE action_events_default ADD PRIMARY KEY (action_id, id);
CREATE INDEX action_events_default_id ON action_events_default USING brin (id);

-- The partition of UTC day `day` (action_events_pYYYYMMDD) with its indexes, unless it exists
-- or another partition covers that day; true when it created it.
-- The one place that says what a day partition is: the migration and the publisher both call it.
CREATE FUNCTION cmq_action_events_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  name text := 'action_events_p' || to_char(day, 'YYYYMMDD');
  lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
BEGIN
  IF to_regclass(name) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF action_events FOR VALUES FROM (%L) TO (%L)', name, lo, lo + interval '1 day');
  EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (action_id, id)', name);
  EXECUTE format('CREATE INDEX %I ON %I USING brin (id)', name || '_id', name);
  RETURN true;
EXCEPTION WHEN invalid_object_definition THEN
  -- Another partition (the legacy one, up to the day after migration 017) covers that day.
  RETURN false;
END $$;

SELECT cmq_action_events_partition((date_trunc('day', now(), 'UTC') + d * interval '1 day')::date)
FROM generate_series(1, 7) AS d;

-- Per-tenant retention of one final state, overriding publisher.properties history.retention.*.
CREATE TABLE history_retention (
  tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  state      text NOT NULL CHECK (state IN ('succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected')),
  keep       interval NOT NULL CHECK (keep >= interval '1 hour'),
  PRIMARY KEY (tenant_id, state)
);
