-- Scheduled sync: the latest known state of every cloud resource of every account, a change
-- row for everything a sync saw appear, change or disappear, and the scheduler's persisted next
-- run per account and kind (so a publisher failover neither skips nor doubles a run).

-- The current state of each resource the provider listed. gone_at is set when a sync no longer
-- saw it (the row stays for history; a resource listed again is 'created' again).
CREATE TABLE resources (
  account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('server', 'firewall', 'volume', 'budget')),
  resource_id  text NOT NULL CHECK (length(resource_id) BETWEEN 1 AND 300),
  tenant_id    text NOT NULL REFERENCES tenants (id),
  state        jsonb NOT NULL,
  first_seen   timestamptz NOT NULL,
  last_seen    timestamptz NOT NULL,
  gone_at      timestamptz,
  PRIMARY KEY (account_id, kind, resource_id)
);
CREATE INDEX resources_tenant ON resources (tenant_id, kind, account_id);

-- One row per created / changed / gone resource, as a sync saw it. fields: for 'changed' the
-- changed top-level fields as {"field": {"old": ..., "new": ...}}; for 'created' the new state;
-- for 'gone' the last state seen.
CREATE TABLE resource_changes (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants (id),
  account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('server', 'firewall', 'volume', 'budget')),
  resource_id  text NOT NULL,
  change       text NOT NULL CHECK (change IN ('created', 'changed', 'gone')),
  fields       jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Milliseconds, as printed: `cmq changes --since <a printed at>` shows only later ones.
  at           timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  action_id    bigint
);
-- cmq changes --tenant T [--since ISO] [--kind K]
CREATE INDEX resource_changes_tenant_at ON resource_changes (tenant_id, at, id);
CREATE INDEX resource_changes_resource ON resource_changes (account_id, kind, resource_id, at);

-- The scheduler's clock per account and kind (kind as the sync.<kind> action names it).
-- next_run_at: when the next sync.<kind> is due (its idempotency key is
-- sync:<account>:<kind>:<next_run_at ISO>); last_*: the run emitted last. observed_at: when the
-- provider answered the newest sync committed for this account and kind (an older answer that
-- commits later is stale and not recorded); the sync handlers lock this row.
CREATE TABLE sync_schedule (
  account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  kind            text NOT NULL CHECK (kind IN ('servers', 'firewalls', 'volumes', 'budget')),
  next_run_at     timestamptz NOT NULL,
  last_run_at     timestamptz,
  last_action_id  bigint,
  observed_at     timestamptz,
  PRIMARY KEY (account_id, kind)
);
CREATE INDEX sync_schedule_due ON sync_schedule (next_run_at);

-- The scheduling lease: one publisher at a time emits sync actions; another takes over once
-- expires_at (PostgreSQL's clock) has passed without a renewal.
CREATE TABLE sync_lease (
  name         text PRIMARY KEY,
  holder       text NOT NULL,
  acquired_at  timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
