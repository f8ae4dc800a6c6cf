-- Hosts over SSH beyond guest.exec: probes, the platform's own nodes, incremental log collection.

-- The platform's own hosts (nodes) belong to this tenant: their actions, logs and limits are
-- accounted like any tenant's.
INSERT INTO tenants (id, name) VALUES ('cmq-platform', 'cmq platform hosts') ON CONFLICT (id) DO NOTHING;

-- One row per host.probe run: the parsed records (lines not understood kept as {"raw": ...})
-- and the parser's warnings. The latest per (tenant, target, probe) is also in Redis.
CREATE TABLE probe_results (
  id         bigserial PRIMARY KEY,
  tenant_id  text NOT NULL REFERENCES tenants (id),
  target     text NOT NULL,
  probe      text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  exit_code  integer,
  records    jsonb NOT NULL,
  warnings   text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX probe_results_latest ON probe_results (tenant_id, target, probe, at DESC);

-- Nodes (static mode): hosts where worker processes are started and stopped over SSH. The
-- private key is encrypted like guests' ("v1:<key id>:..."); the host key must be pinned.
CREATE TABLE nodes (
  name                  text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  address               text NOT NULL,
  port                  integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
  "user"                text NOT NULL,
  private_key           text NOT NULL CHECK (private_key LIKE 'v1:%'),
  host_key_fingerprint  text CHECK (host_key_fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
  start_cmd             text NOT NULL,
  stop_cmd              text NOT NULL,
  status_cmd            text NOT NULL,
  active                boolean NOT NULL DEFAULT true,
  last_action           text,
  last_exit_code        integer,
  last_output           text,
  last_at               timestamptz,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);

-- guest.logs.collect: where the last collection of each remote file stopped. The offset is
-- committed only after the bytes are appended and fsynced locally; local_size is the size of the
-- local copy at that commit (bytes beyond it were written by a run that died before committing,
-- and are cut before the next append: nothing is repeated).
CREATE TABLE guest_log_offsets (
  tenant_id   text NOT NULL,
  guest_id    text NOT NULL,
  path        text NOT NULL,
  inode       bigint NOT NULL,
  "offset"    bigint NOT NULL CHECK ("offset" >= 0),
  local_size  bigint NOT NULL CHECK (local_size >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, guest_id, path),
  FOREIGN KEY (tenant_id, guest_id) REFERENCES guests (tenant_id, id) ON DELETE CASCADE
);
