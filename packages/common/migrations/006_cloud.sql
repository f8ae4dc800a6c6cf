-- Cloud accounts of a tenant. credentials is the keyring's ciphertext ("v1:<key id>:...") of
-- the provider's JSON credentials, never clear text. rate/burst override provisioning.cfg's
-- per-account token bucket where set.
CREATE TABLE accounts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants (id),
  provider     text NOT NULL CHECK (provider IN ('local', 'ec2')),
  region       text NOT NULL CHECK (region ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  endpoint     text CHECK (endpoint ~ '^https?://'),
  credentials  text NOT NULL CHECK (credentials LIKE 'v1:%'),
  rate         double precision CHECK (rate > 0),
  burst        integer CHECK (burst >= 1),
  enabled      boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_tenant ON accounts (tenant_id);
