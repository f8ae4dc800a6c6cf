// @ts-check
'use strict';
/**
 * History for benchmarks (scripts/bench-history.js, `npm run bench -- --history N`): `actions`
 * finished actions spread over the last `days` days across `tenants` tenants (hist-0, hist-1,
 * ...), `eventsPer` events each, generated in SQL. On a database freshly migrated to 017 the
 * empty legacy partition is dropped first and day partitions made for the past days, as an
 * installation running 017 for that long would have them.
 */

const FINAL_MIX = `CASE WHEN r < 0.90 THEN 'succeeded' WHEN r < 0.95 THEN 'failed' WHEN r < 0.98 THEN 'dead' ELSE 'cancelled' END`;

/**
 * @param {import('pg').Pool} pool
 * @param {{ actions: number, eventsPer?: number, days?: number, tenants?: number, chunk?: number, say?: (m: string) => void }} o
 */
async function fillHistory(pool, o) {
  const eventsPer = o.eventsPer ?? 4;
  const days = o.days ?? 30;
  const tenants = o.tenants ?? 10;
  const chunk = o.chunk ?? 250_000;
  const say = o.say ?? (() => undefined);
  const legacy = await pool.query("SELECT to_regclass('action_events_legacy') IS NOT NULL AS l");
  if (legacy.rows[0].l) {
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM action_events_legacy');
    if (rows[0].n === 0) {
      await pool.query('DROP TABLE action_events_legacy');
      await pool.query(
        `SELECT cmq_action_events_partition((date_trunc('day', now(), 'UTC') - d * interval '1 day')::date) FROM generate_series(0, $1) d`,
        [days + 1],
      );
    }
  }
  await pool.query(
    `INSERT INTO tenants (id, name) SELECT 'hist-' || t, 'history ' || t FROM generate_series(0, $1 - 1) t ON CONFLICT DO NOTHING`,
    [tenants],
  );
  const started = Date.now();
  for (let done = 0; done < o.actions; done += chunk) {
    const n = Math.min(chunk, o.actions - done);
    // Finished between `days` days ago and an hour ago, oldest first, as a running installation
    // writes them (ids and finish times grow together, a day's rows lie together in the heap);
    // created 50 s before.
    await pool.query(
      `WITH g AS (
         SELECT random() AS r, 'hist-' || (random() * ($3::int - 1))::int AS tenant,
                now() - interval '1 hour' - (1 - ($5::int + i)::float8 / $6::int) * ($2::int * interval '1 day' - interval '1 hour') AS fin
         FROM generate_series(1, $1::int) AS i),
       a AS (
         INSERT INTO actions (tenant_id, type, family, args, state, attempts, created_at, queued_at, started_at, finished_at, updated_at, worker, result)
         SELECT tenant, 'noop', 'control', '{}', ${FINAL_MIX}, 1, fin - interval '50 seconds', fin - interval '40 seconds',
                fin - interval '1 second', fin, fin, 'subscriber:bench@fill', '{}'::jsonb
         FROM g RETURNING id, created_at, finished_at, state)
       INSERT INTO action_events (action_id, at, from_state, to_state, actor)
       SELECT a.id, a.created_at + (a.finished_at - a.created_at) * s / $4::int,
              (ARRAY[NULL, 'pending', 'queued', 'running'])[least(s + 1, 4)],
              CASE WHEN s = $4::int - 1 THEN a.state ELSE (ARRAY['pending', 'queued', 'running'])[least(s + 1, 3)] END,
              'fill'
       FROM a, generate_series(0, $4::int - 1) s`,
      [n, days, tenants, eventsPer, done, o.actions],
    );
    say(`filled ${done + n} of ${o.actions} actions (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  // What autovacuum would have done by the time so much history had built up: statistics, and
  // the visibility map that lets counts read the indexes alone.
  await pool.query('VACUUM ANALYZE actions');
  await pool.query('VACUUM ANALYZE action_events');
  // The fill's gigabytes of dirty pages would otherwise be flushed during what is measured next.
  await pool.query('CHECKPOINT');
}

module.exports = { fillHistory };
