-- Bare metal of the platform's own hosts: Cobbler servers (provider cobbler, endpoint the
-- server's http(s)://.../cobbler_api) and BMCs (provider ipmi, endpoint ipmi://host[:port], one
-- account per BMC), the systems sync.metal records and the sensors ipmi.sensors records as
-- resources, and metal.provision's progress so that a rerun after a crash skips the steps done.

-- The constraints are found by what they say, not by name: their names were chosen by PostgreSQL.
DO $$
DECLARE c record;
BEGIN
  FOR c IN
    SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
    WHERE contype = 'c' AND (
      (conrelid = 'accounts'::regclass AND (pg_get_constraintdef(oid) LIKE '%''ec2''%' OR pg_get_constraintdef(oid) LIKE '%https?://%'))
      OR (conrelid IN ('resources'::regclass, 'resource_changes'::regclass) AND pg_get_constraintdef(oid) LIKE '%''firewall''%')
      OR (conrelid = 'sync_schedule'::regclass AND pg_get_constraintdef(oid) LIKE '%''firewalls''%'))
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
  END LOOP;
END $$;

ALTER TABLE accounts ADD CONSTRAINT accounts_provider_check
  CHECK (provider IN ('local', 'ec2', 'cobbler', 'ipmi'));
ALTER TABLE accounts ADD CONSTRAINT accounts_endpoint_check
  CHECK (endpoint ~ '^https?://' OR (provider = 'ipmi' AND endpoint ~ '^ipmi://'));
ALTER TABLE resources ADD CONSTRAINT resources_kind_check
  CHECK (kind IN ('server', 'firewall', 'volume', 'budget', 'system', 'sensor'));
ALTER TABLE resource_changes ADD CONSTRAINT resource_changes_kind_check
  CHECK (kind IN ('server', 'firewall', 'volume', 'budget', 'system', 'sensor'));
-- metal and sensors rows only serialise recordSync (the scheduler emits the cloud kinds only).
ALTER TABLE sync_schedule ADD CONSTRAINT sync_schedule_kind_check
  CHECK (kind IN ('servers', 'firewalls', 'volumes', 'budget', 'metal', 'sensors'));

-- One row per metal.provision action: the last step done (assigned: profile and netboot saved;
-- synced: Cobbler synced; cycling: the power-cycle was asked for, at most once per action).
CREATE TABLE metal_provisions (
  action_id   bigint PRIMARY KEY,
  account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  system      text NOT NULL CHECK (length(system) BETWEEN 1 AND 255),
  profile     text NOT NULL,
  step        text NOT NULL CHECK (step IN ('assigned', 'synced', 'cycling')),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX metal_provisions_system ON metal_provisions (account_id, system);
