import type { Pool } from 'pg';
import pino from 'pino';
import { createPool, migrate } from '@cmq/common';
import { writeConfig } from '../helpers/config-dir';
import { runCmq } from '../helpers/process';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

// `cmq history` (docs/history.md) through the built CLI: stats, a dry run, a pass, a tenant's
// reset (audited), a tenant's own retention. Rows are back-dated in SQL.

let database: string;
let pool: Pool;
let dir: string;
const cmq = (...args: string[]): ReturnType<typeof runCmq> => runCmq([...args, '--config-dir', dir]);

/** `n` actions of `tenant` in `state`, finished `days` ago, with two events each. */
async function backdated(tenant: string, state: string, days: number, n: number): Promise<void> {
  await pool.query(
    `WITH a AS (
       INSERT INTO actions (tenant_id, type, family, state, created_at, finished_at)
       SELECT $1, 'noop', 'control', $2, now() - ($3 + 0.01) * interval '1 day',
              CASE WHEN $2 IN ('pending', 'running') THEN NULL ELSE now() - $3 * interval '1 day' END
       FROM generate_series(1, $4) RETURNING id, created_at)
     INSERT INTO action_events (action_id, at, to_state, actor) SELECT id, created_at, $2, 'test' FROM a, generate_series(1, 2)`,
    [tenant, state, days, n],
  );
}

beforeAll(async () => {
  database = await createTestDatabase('cmq_cli_history');
  const db = Object.assign({ ssl: { mode: 'disable', ca: '', cert: '', key: '' } }, testDbConfig(database));
  pool = createPool(db, pino({ level: 'silent' }), 'cmq-cli-history-test');
  await migrate(pool);
  await pool.query("INSERT INTO tenants (id, name) VALUES ('acme', 'acme'), ('beta', 'beta')");
  dir = writeConfig({ 'worker.properties': { 'db.database': database }, 'publisher.properties': {} });
  await backdated('acme', 'succeeded', 10, 3);
  await backdated('acme', 'failed', 10, 2);
  await backdated('acme', 'running', 40, 1);
  await backdated('beta', 'succeeded', 10, 4);
  await backdated('beta', 'succeeded', 1, 1);
});

afterAll(async () => {
  await pool.end();
  await dropTestDatabase(database);
});

const count = async (where: string): Promise<number> =>
  (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM actions WHERE ${where}`)).rows[0]?.n ?? -1;

describe('cmq history', () => {
  it('stats shows the tables and partitions and what the next prune removes', async () => {
    const res = await cmq('history', 'stats');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^actions\s/m);
    expect(res.stdout).toMatch(/^ {2}action_events_legacy\s+FROM \(MINVALUE\)/m);
    expect(res.stdout).toMatch(/^ {2}action_events_default\s+DEFAULT/m);
    expect(res.stdout).toContain('would remove 7 succeeded action(s) with their events');
  });

  it('a tenant’s reset removes only its final actions before the date, and is audited', async () => {
    const before = new Date(Date.now() - 5 * 86_400_000).toISOString();
    const dry = await cmq('history', 'prune', '--tenant', 'acme', '--before', before, '--dry-run');
    expect(dry.stdout).toBe(
      'would remove 3 succeeded action(s) of tenant acme with their events\n' +
        'would remove 2 failed action(s) of tenant acme with their events\n',
    );
    expect(await count("tenant_id = 'acme'")).toBe(6);
    const res = await cmq('history', 'prune', '--tenant', 'acme', '--before', before);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('removed 2 failed action(s) of tenant acme and 4 event(s)');
    expect(await count("tenant_id = 'acme'")).toBe(1); // the running one, 40 days old
    expect(await count("tenant_id = 'beta'")).toBe(5);
    const audit = await pool.query<{ action: string; target: string; outcome: string; detail: { actions: number } }>(
      "SELECT action, target, outcome, detail FROM audit_log WHERE action = 'history.prune'",
    );
    expect(audit.rows.map((r) => [r.target, r.outcome, r.detail.actions])).toEqual([['tenant:acme', 'ok', 5]]);
  });

  it('a tenant’s own retention holds its actions back from a pass', async () => {
    expect((await cmq('history', 'retention', '--tenant', 'beta', '--state', 'succeeded', '--keep', '20d')).code).toBe(
      0,
    );
    expect((await cmq('history', 'retention')).stdout).toMatch(/^beta\s+succeeded\s+20d$/m);
    const res = await cmq('history', 'prune');
    expect(res.stdout).toContain('nothing was due for removal');
    expect(await count("tenant_id = 'beta'")).toBe(5);
    await cmq('history', 'retention', '--tenant', 'beta', '--state', 'succeeded', '--clear');
    expect((await cmq('history', 'prune')).stdout).toContain('removed 4 succeeded action(s) and 8 event(s)');
    expect(await count("tenant_id = 'beta'")).toBe(1);
  });

  it('refuses --tenant without --before, and an unknown tenant’s retention', async () => {
    const res = await cmq('history', 'prune', '--tenant', 'acme');
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('--tenant and --before go together');
    const bad = await cmq('history', 'retention', '--tenant', 'nobody', '--state', 'failed', '--keep', '48h');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('no tenant "nobody"');
  });
});
