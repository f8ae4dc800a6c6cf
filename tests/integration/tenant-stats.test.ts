import { tenantStats } from '@cmq/actions';
import { createPool, migrate } from '@cmq/common';
import type { Pool } from 'pg';
import pino from 'pino';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

// The console's tenant stats (packages/actions/src/tenant-stats.ts) on a real PostgreSQL, against
// figures computed by hand from the rows seeded below: states, finished counts, failure and dead
// rates over the last hour and day, p50/p95 durations per type (percentile_cont, interpolated).

let database: string;
let pool: Pool;

/** One action of `tenant`: `state` finished `agoMin` minutes ago after `ms` ms (from start, or from creation when `started` is false). */
async function seed(
  tenant: string,
  type: string,
  state: string,
  agoMin: number | null,
  ms: number,
  started = true,
): Promise<void> {
  await pool.query(
    `INSERT INTO actions (tenant_id, type, family, state, created_at, started_at, finished_at)
     SELECT $1, $2, 'control', $3, fin - ($5 + CASE WHEN $6 THEN 1000 ELSE 0 END) * interval '1 ms',
            CASE WHEN $6 THEN fin - $5 * interval '1 ms' END, CASE WHEN $4::float8 IS NULL THEN NULL ELSE fin END
     FROM (SELECT now() - coalesce($4::float8, 0) * interval '1 minute' AS fin) f`,
    [tenant, type, state, agoMin, ms, started],
  );
}

beforeAll(async () => {
  database = await createTestDatabase('cmq_tenant_stats');
  pool = createPool(
    { ...testDbConfig(database), ssl: { mode: 'disable', ca: '', cert: '', key: '' } },
    pino({ level: 'silent' }),
    'cmq-tenant-stats-test',
  );
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('ta', 'A'), ('tb', 'B'), ('tc', 'C')");
  // ta, alpha: the last hour 4 succeeded (100-400 ms) and 1 failed (1000 ms); earlier today 1 dead
  // (2000 ms) and 1 succeeded never started (500 ms from creation); 2 days ago 1 succeeded (ignored).
  for (const ms of [100, 200, 300, 400]) await seed('ta', 'alpha', 'succeeded', 10, ms);
  await seed('ta', 'alpha', 'failed', 20, 1000);
  await seed('ta', 'alpha', 'dead', 300, 2000);
  await seed('ta', 'alpha', 'succeeded', 400, 500, false);
  await seed('ta', 'alpha', 'succeeded', 2 * 24 * 60, 99_999);
  // ta, beta: 1 succeeded 3 hours ago (50 ms). Unfinished: 1 pending, 2 running.
  await seed('ta', 'beta', 'succeeded', 180, 50);
  await seed('ta', 'alpha', 'pending', null, 0, false);
  await seed('ta', 'alpha', 'running', null, 0);
  await seed('ta', 'beta', 'running', null, 0);
  // tb: 1 cancelled 10 minutes ago (70 ms), 1 succeeded 25 hours ago (ignored). tc: nothing recent.
  await seed('tb', 'gamma', 'cancelled', 10, 70);
  await seed('tb', 'gamma', 'succeeded', 25 * 60, 10);
  await seed('tc', 'gamma', 'succeeded', 3 * 24 * 60, 10);
});

afterAll(async () => {
  await pool?.end();
  await dropTestDatabase(database);
});

test('states, counts, rates and per-type percentiles match the hand-computed figures', async () => {
  const stats = await tenantStats(pool, null);
  expect(stats.map((s) => s.tenant)).toEqual(['ta', 'tb']);
  expect(stats[0]).toEqual({
    tenant: 'ta',
    states: { pending: 1, running: 2, succeeded: 6, failed: 1, dead: 1 },
    finished_hour: 5,
    finished_day: 8,
    failure_rate_hour: 0.2, // 1 failed of 5
    failure_rate_day: 0.25, // 1 failed + 1 dead of 8
    dead_rate_hour: 0,
    dead_rate_day: 0.125,
    types: [
      // alpha's 7 durations sorted: 100 200 300 400 500 1000 2000. p50 = the 4th = 400;
      // p95 at rank 6 × 0.95 = 5.7: 1000 + 0.7 × (2000 - 1000) = 1700.
      { type: 'alpha', n: 7, p50_ms: 400, p95_ms: 1700 },
      { type: 'beta', n: 1, p50_ms: 50, p95_ms: 50 },
    ],
  });
  expect(stats[1]).toEqual({
    tenant: 'tb',
    states: { cancelled: 1 },
    finished_hour: 1,
    finished_day: 1,
    failure_rate_hour: 0,
    failure_rate_day: 0,
    dead_rate_hour: 0,
    dead_rate_day: 0,
    types: [{ type: 'gamma', n: 1, p50_ms: 70, p95_ms: 70 }],
  });
});

test("a tenant's stats are its own only", async () => {
  const stats = await tenantStats(pool, 'tb');
  expect(stats.map((s) => [s.tenant, s.finished_day])).toEqual([['tb', 1]]);
  expect(await tenantStats(pool, 'tc')).toEqual([]);
});
