-- Guests: machines of a tenant that subscribers reach over SSH. The private key is stored
-- encrypted (km-client.cfg keys; "v1:<key id>:..."), never in clear. host_key_fingerprint is
-- the pinned "SHA256:..." key; trust_on_first_use is true only for guests the platform launched
-- itself (operator-added guests must be pinned, or are refused).
CREATE TABLE guests (
  tenant_id             text NOT NULL REFERENCES tenants (id),
  id                    text NOT NULL CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  address               text NOT NULL,
  port                  integer NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
  "user"                text NOT NULL,
  private_key           text NOT NULL CHECK (private_key LIKE 'v1:%'),
  host_key_fingerprint  text CHECK (host_key_fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
  trust_on_first_use    boolean NOT NULL DEFAULT false,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
