import pino from 'pino';
import type { Pool } from 'pg';
import {
  type ResourceState,
  type SyncIntervals,
  acquireSyncLease,
  emitDueSyncs,
  normalizeState,
  recordSync,
} from '@cmq/actions';
import { createPool, migrate, withTransaction } from '@cmq/common';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { waitFor } from '../helpers/wait';

const logger = pino({ level: 'silent' });
const HOUR = 3_600_000;

let database: string;
let pool: Pool;
let account: string;

const tx = <T>(fn: (sql: Pool) => Promise<T>): Promise<T> =>
  withTransaction(pool, (client) => fn(client as unknown as Pool));

function listed(...servers: Array<{ id: string; state: string }>): Map<string, ResourceState> {
  return new Map(servers.map((s) => [s.id, normalizeState({ ...s, name: s.id })]));
}

async function observedAt(): Promise<Date> {
  return (await pool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]?.now as Date;
}

async function changeRows(): Promise<string[]> {
  const { rows } = await pool.query<{ resource_id: string; change: string }>(
    'SELECT resource_id, change FROM resource_changes ORDER BY id',
  );
  return rows.map((r) => `${r.resource_id} ${r.change}`);
}

beforeAll(async () => {
  database = await createTestDatabase('cmq_sync');
  pool = createPool(testDbConfig(database, { max: 8, connectTimeoutMs: 5_000 }), logger, 'cmq-sync-store-test');
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
  const { rows } = await pool.query<{ id: string }>(
    "INSERT INTO accounts (tenant_id, provider, region, credentials) VALUES ('t1', 'ec2', 'us-east-1', 'v1:none:unused') RETURNING id::text",
  );
  account = rows[0]?.id ?? '';
});

afterAll(async () => {
  await pool.end();
  await dropTestDatabase(database);
});

describe('recordSync', () => {
  const base = { tenant: 't1', syncKind: 'servers' as const, kind: 'server' as const, actionId: null };

  it('two syncs of one account and kind racing with the same answer record each change once', async () => {
    const at = await observedAt();
    const answer = listed({ id: 'i-1', state: 'running' }, { id: 'i-2', state: 'pending' });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => recordSync(tx, { ...base, account, observedAt: at, listed: answer })),
    );
    expect(results.reduce((n, r) => n + r.created, 0)).toBe(2);
    expect(await changeRows()).toEqual(['i-1 created', 'i-2 created']);
  });

  it('an older answer committing after a newer one is dropped as stale', async () => {
    const older = await observedAt();
    // Timestamps travel as milliseconds: two asked back to back can be equal, so ask until not.
    let newer = older;
    await waitFor(
      async () => (newer = await observedAt()).getTime() > older.getTime(),
      5_000,
      'a later clock_timestamp()',
    );
    expect(newer.getTime()).toBeGreaterThan(older.getTime());
    const now = await recordSync(tx, {
      ...base,
      account,
      observedAt: newer,
      listed: listed({ id: 'i-1', state: 'running' }, { id: 'i-2', state: 'running' }),
    });
    expect(now).toMatchObject({ created: 0, changed: 1, gone: 0, total: 2, stale: false });
    const late = await recordSync(tx, {
      ...base,
      account,
      observedAt: older,
      listed: listed({ id: 'i-1', state: 'running' }),
    });
    expect(late).toMatchObject({ stale: true, created: 0, changed: 0, gone: 0 });
    expect(await changeRows()).toEqual(['i-1 created', 'i-2 created', 'i-2 changed']);
  });

  it('gone, then listed again: created again', async () => {
    await recordSync(tx, {
      ...base,
      account,
      observedAt: await observedAt(),
      listed: listed({ id: 'i-1', state: 'running' }),
    });
    await recordSync(tx, {
      ...base,
      account,
      observedAt: await observedAt(),
      listed: listed({ id: 'i-1', state: 'running' }, { id: 'i-2', state: 'running' }),
    });
    expect((await changeRows()).slice(-2)).toEqual(['i-2 gone', 'i-2 created']);
    const { rows } = await pool.query<{ gone_at: Date | null }>(
      "SELECT gone_at FROM resources WHERE resource_id = 'i-2'",
    );
    expect(rows).toEqual([{ gone_at: null }]);
  });
  it('states full of quotes and backslashes are stored as they were, each under its own resource', async () => {
    const odd = 'tag "x" \\share\\path {"a": [1]} \\u0041';
    const answer = new Map([
      ['q-1', normalizeState({ id: 'q-1', state: 'running', name: odd })],
      ['q-2', normalizeState({ id: 'q-2', state: 'stopped', name: `${odd} 2`, tags: { [odd]: odd } })],
    ]);
    const first = await recordSync(tx, { ...base, account, observedAt: await observedAt(), listed: answer });
    expect(first).toMatchObject({ created: 2, stale: false });
    const stored = await pool.query<{ resource_id: string; state: unknown }>(
      "SELECT resource_id, state FROM resources WHERE resource_id LIKE 'q-%' ORDER BY resource_id",
    );
    expect(stored.rows).toEqual([...answer].map(([id, state]) => ({ resource_id: id, state })));
    const renamed = new Map(answer).set(
      'q-1',
      normalizeState({ id: 'q-1', state: 'running', name: `${odd} "renamed"` }),
    );
    const second = await recordSync(tx, { ...base, account, observedAt: await observedAt(), listed: renamed });
    expect(second).toMatchObject({ created: 0, changed: 1, gone: 0 });
    const { rows } = await pool.query<{ fields: unknown }>(
      "SELECT fields FROM resource_changes WHERE resource_id = 'q-1' AND change = 'changed'",
    );
    expect(rows).toEqual([{ fields: { name: { old: odd, new: `${odd} "renamed"` } } }]);
  });
});

describe('emitDueSyncs', () => {
  const intervals: SyncIntervals = { servers: 60_000, firewalls: HOUR, volumes: HOUR, budget: HOUR };
  const opts = { intervals, jitter: 0, actor: 'publisher:a', batch: 100 };

  it('emits nothing without the lease; with it, one run per kind for a new account', async () => {
    expect(await emitDueSyncs(tx, opts)).toBeUndefined();
    expect(await acquireSyncLease(pool, 'publisher:a', 10_000)).toBe(true);
    expect(await acquireSyncLease(pool, 'publisher:b', 10_000)).toBe(false);
    await pool.query('DELETE FROM sync_schedule');
    expect(await emitDueSyncs(tx, opts)).toBe(4);
    expect(await emitDueSyncs(tx, opts)).toBe(0);
  });

  it('a scheduler down for many intervals catches up one run, not a burst', async () => {
    await pool.query(
      "UPDATE sync_schedule SET next_run_at = date_trunc('milliseconds', now()) - interval '10 minutes' WHERE account_id = $1 AND kind = 'servers'",
      [account],
    );
    const before =
      (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM actions WHERE type = 'sync.servers'")).rows[0]
        ?.n ?? 0;
    expect(await emitDueSyncs(tx, opts)).toBe(1);
    expect(await emitDueSyncs(tx, opts)).toBe(0);
    const after =
      (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM actions WHERE type = 'sync.servers'")).rows[0]
        ?.n ?? 0;
    expect(after - before).toBe(1);
    // The catch-up run is due now and not born expired (it would never run).
    const caughtUp = await pool.query<{ due: boolean; live: boolean }>(
      "SELECT not_before <= now() AS due, expires_at > now() + interval '1 minute' AS live FROM actions WHERE type = 'sync.servers' ORDER BY id DESC LIMIT 1",
    );
    expect(caughtUp.rows).toEqual([{ due: true, live: true }]);
    const { rows } = await pool.query<{ ahead: number }>(
      "SELECT (extract(epoch FROM next_run_at - now()) * 1000)::float8 AS ahead FROM sync_schedule WHERE account_id = $1 AND kind = 'servers'",
      [account],
    );
    expect(rows[0]?.ahead).toBeGreaterThan(55_000);
    expect(rows[0]?.ahead).toBeLessThanOrEqual(60_000);
  });
});
