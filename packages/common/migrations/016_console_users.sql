-- The console's people (docs/console-security.md): users with a role and optionally a tenant,
-- their browser sessions and API tokens, the failed logins that throttle the next ones, and the
-- audit log of every login, logout, throttle, token use and user change. Session ids and API
-- tokens are stored only as SHA-256 hashes: a copy of this table signs nobody in.
CREATE TABLE console_users (
  id             serial PRIMARY KEY,
  name           text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
  role           text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  -- Bound to a tenant, the user sees only that tenant's data; NULL sees all tenants.
  tenant_id      text REFERENCES tenants (id) ON UPDATE CASCADE,
  -- scrypt$N$r$p$salt$hash (base64): the parameters travel with the hash so they can be raised.
  password_hash  text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
  disabled       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE console_sessions (
  id_hash         text PRIMARY KEY,
  user_id         integer NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
  -- Not a credential on its own (it only works with the session cookie); pages carry it.
  csrf_token      text NOT NULL,
  remote_address  text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

CREATE TABLE console_api_tokens (
  id            serial PRIMARY KEY,
  token_hash    text NOT NULL UNIQUE,
  user_id       integer NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz
);
CREATE INDEX console_api_tokens_user ON console_api_tokens (user_id);

-- One row per failed login, kept for console.login.window: the count per user name and per
-- remote address decides throttling. Rows older than the window are deleted as new ones come.
CREATE TABLE console_login_failures (
  id              bigserial PRIMARY KEY,
  at              timestamptz NOT NULL DEFAULT now(),
  user_name       text NOT NULL,
  remote_address  text NOT NULL
);
CREATE INDEX console_login_failures_user ON console_login_failures (user_name, at);
CREATE INDEX console_login_failures_address ON console_login_failures (remote_address, at);
CREATE INDEX console_login_failures_at ON console_login_failures (at);

CREATE TABLE audit_log (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL DEFAULT now(),
  actor          text NOT NULL,
  actor_address  text,
  action         text NOT NULL,
  target         text,
  outcome        text NOT NULL,
  tenant         text,
  detail         jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
