-- Autoscaling (provisioning.cfg mode=dynamic): policies, their decisions, and the fleet's servers.
-- docs/autoscaling.md describes the model.

-- One policy per queue family or set of families. spec holds every knob, validated by the
-- policy schema (packages/actions/src/autoscale-policy.ts) before it is written. The account is
-- one of the platform tenant's (the fleet is the platform's own). The launch breaker counts
-- launch failures in a row; open_until set means no launch before then.
CREATE TABLE policies (
  name                 text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  account_id           bigint NOT NULL REFERENCES accounts (id),
  spec                 jsonb NOT NULL,
  enabled              boolean NOT NULL DEFAULT true,
  launch_failures      integer NOT NULL DEFAULT 0 CHECK (launch_failures >= 0),
  breaker_open_until   timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Every evaluation that changed something or was held back, and the fleet's own events
-- (breaker opened or closed, a drain past its bound, an unknown server found or terminated).
-- inputs are what decide() saw; current/wanted/decided are server counts; actions are the ids
-- of the actions the decision emitted.
CREATE TABLE policy_decisions (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  policy    text NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
  at        timestamptz NOT NULL DEFAULT now(),
  actor     text NOT NULL,
  kind      text NOT NULL CHECK (kind IN ('out', 'in', 'hold', 'breaker', 'drain', 'orphan')),
  inputs    jsonb NOT NULL DEFAULT '{}',
  needed    integer,
  current   integer NOT NULL,
  wanted    integer NOT NULL,
  decided   integer NOT NULL,
  reason    text NOT NULL,
  actions   bigint[] NOT NULL DEFAULT '{}'
);
CREATE INDEX policy_decisions_recent ON policy_decisions (policy, at DESC);

-- The fleet's servers, from the decision that launched them to their termination. A row is
-- written in the transaction that inserts its server.launch (idempotency key derived from the
-- decision), so a crash can neither launch without a row nor keep a row without its launch.
-- server_id is known once the launch recorded the server (servers.launch_action_id).
CREATE TABLE fleet_servers (
  launch_action_id   bigint PRIMARY KEY,
  policy             text NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
  decision_id        bigint NOT NULL REFERENCES policy_decisions (id) ON DELETE CASCADE,
  account_id         bigint NOT NULL,
  server_id          text,
  state              text NOT NULL CHECK (state IN ('launching', 'starting', 'ready', 'draining', 'terminating', 'terminated', 'failed')),
  step_action_id     bigint,
  drain_started_at   timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fleet_servers_live ON fleet_servers (policy) WHERE state NOT IN ('terminated', 'failed');
CREATE UNIQUE INDEX fleet_servers_server ON fleet_servers (account_id, server_id) WHERE server_id IS NOT NULL;
