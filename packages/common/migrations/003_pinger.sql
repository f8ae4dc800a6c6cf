-- The pinger: its history (one summary per interval; the latest also lives in Redis), the
-- tenant its canary actions run under, and cheap reads for the operator's views.
CREATE TABLE pinger_history (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  pinger   text NOT NULL,
  summary  jsonb NOT NULL
);
-- Retention deletes by age; `cmq` reads the latest rows.
CREATE INDEX pinger_history_at ON pinger_history (at);

INSERT INTO tenants (id, name) VALUES ('cmq-canary', 'cmq pinger canaries') ON CONFLICT DO NOTHING;

-- `cmq events` polls events newer than the last id it saw; ids grow with insertion order, so a
-- BRIN index answers that for a few pages where a b-tree would cost every insert.
CREATE INDEX action_events_id ON action_events USING brin (id);

-- The pinger counts the dead letters of its last interval.
CREATE INDEX dead_letters_at ON dead_letters (at);
