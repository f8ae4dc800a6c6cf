-- Servers the platform launched (server.launch) and follows (server.await, server.terminate,
-- server.reboot). launch_action_id is the launch's idempotency token (EC2 ClientToken, the local
-- driver's token): a rerun of the same launch finds its row instead of adding one. server_id is
-- the provider's id. guest_id names the guest registered for the server once it ran (the guest
-- row is removed when the server is terminated; the id stays here as history). Removing an
-- account removes the record of its servers (not the servers: terminate them first).
CREATE TABLE servers (
  tenant_id             text NOT NULL REFERENCES tenants (id),
  account_id            bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  server_id             text NOT NULL CHECK (length(server_id) BETWEEN 1 AND 200),
  launch_action_id      bigint UNIQUE,
  name                  text NOT NULL DEFAULT '',
  image                 text NOT NULL DEFAULT '',
  size                  text NOT NULL DEFAULT '',
  state                 text NOT NULL CHECK (state IN ('pending', 'running', 'stopping', 'stopped', 'terminated', 'unknown', 'gone')),
  addresses             jsonb NOT NULL DEFAULT '{}',
  ssh_port              integer CHECK (ssh_port BETWEEN 1 AND 65535),
  host_key_fingerprint  text CHECK (host_key_fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
  guest_id              text,
  launched_at           timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, server_id)
);
CREATE INDEX servers_tenant ON servers (tenant_id);
