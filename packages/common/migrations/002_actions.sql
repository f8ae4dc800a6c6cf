-- Actions: the unit of work. A requester's INSERT is the only write intake needs (the
-- transactional outbox); the relay moves due rows onto RabbitMQ; a subscriber claims, runs and
-- commits them. Every transition is also an action_events row.
CREATE TABLE actions (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        text NOT NULL REFERENCES tenants (id),
  type             text NOT NULL,
  family           text NOT NULL CHECK (family IN ('provision', 'monitor', 'guest', 'control')),
  args             jsonb NOT NULL DEFAULT '{}',
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'queued', 'running', 'succeeded',
                     'failed', 'retrying', 'dead', 'expired', 'cancelled', 'rejected')),
  priority         smallint NOT NULL DEFAULT 0,
  attempts         integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  idempotency_key  text,
  not_before       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz,
  worker_id        bigint,
  worker           text,
  result           jsonb,
  error            text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  queued_at        timestamptz,
  started_at       timestamptz,
  finished_at      timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Every state change rewrites the row and adds an entry to each index, so indexes are few and
-- partial where they can be: most actions have no idempotency key.
CREATE UNIQUE INDEX actions_idempotency ON actions (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The relay's scan: due work per tenant and family, in priority order.
CREATE INDEX actions_due ON actions (family, tenant_id, priority DESC, not_before, id)
  WHERE state IN ('pending', 'retrying');
-- The relay's window: what is queued or running per family and tenant.
CREATE INDEX actions_inflight ON actions (family, tenant_id) WHERE state IN ('queued', 'running');
-- The relay's alarm clock: when the next retry or countdown comes due.
CREATE INDEX actions_next_due ON actions (not_before) WHERE state IN ('pending', 'retrying');
CREATE INDEX actions_expiring ON actions (expires_at) WHERE state IN ('pending', 'retrying') AND expires_at IS NOT NULL;
CREATE INDEX actions_dead ON actions (finished_at) WHERE state = 'dead';

-- The life of each action. One index only, and no foreign key: a key check would lock the
-- action row on every event; events go when their action goes (retention deletes both).
CREATE TABLE action_events (
  id          bigint GENERATED ALWAYS AS IDENTITY,
  action_id   bigint NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  from_state  text,
  to_state    text NOT NULL,
  actor       text NOT NULL,
  reason      text,
  PRIMARY KEY (action_id, id)
);

-- Messages that reached a subscriber but match no action (not JSON, unknown tenant, ...).
CREATE TABLE dead_letters (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT now(),
  reason       text NOT NULL,
  routing_key  text NOT NULL,
  tenant_id    text,
  body         bytea NOT NULL,
  body_bytes   integer NOT NULL,
  worker       text NOT NULL,
  replayed_at  timestamptz
);

-- Every running process that claims actions registers here and holds a session advisory lock
-- (classid 7301, objid = id) for its lifetime: the lock vanishes with the process's connection,
-- so "is the worker that holds this action alive?" is one look at pg_locks.
CREATE TABLE workers (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  service     text NOT NULL,
  name        text NOT NULL,
  host        text NOT NULL,
  pid         integer NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now()
);

-- Wakes the relay: new due work (statement level, one notification per batch).
CREATE FUNCTION cmq_notify_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cmq_relay', TG_OP);
  RETURN NULL;
END $$;
CREATE TRIGGER actions_notify_insert AFTER INSERT ON actions FOR EACH STATEMENT EXECUTE FUNCTION cmq_notify_relay();
