-- Throughput: fewer index entries per action.
--
-- The relay's alarm clock only needs actions that come due later than they were created
-- (countdowns, ETAs, retries, replays): one submitted to run now is due at once, and the relay's
-- scan (actions_due) finds it. Indexing those too cost every submitted action a second index
-- entry. msUntilNextDue (packages/actions/src/relay-store.ts) repeats this predicate.
DROP INDEX actions_next_due;
CREATE INDEX actions_next_due ON actions (not_before) WHERE state IN ('pending', 'retrying') AND not_before > created_at;
