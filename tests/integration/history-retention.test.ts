import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import pino from 'pino';
import {
  type RetentionSettings,
  createPartitionsAhead,
  dropExpiredPartitions,
  eventPartitions,
  pruneRule,
  runRetention,
  setRetentionOverride,
} from '@cmq/actions';
import {
  ACTION_STATES,
  Database,
  MIGRATIONS_DIR,
  type Sql,
  StatusBoard,
  type Transactor,
  createPool,
  migrate,
} from '@cmq/common';
import { HistoryKeeper } from '@cmq/publisher';
import { waitFor } from '../helpers/wait';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

/** testDbConfig, with the plain connection spelled out while db.ssl.* is being added to it. */
const dbConfig = (database: string): ReturnType<typeof testDbConfig> =>
  Object.assign({ ssl: { mode: 'disable', ca: '', cert: '', key: '' } }, testDbConfig(database));

// Retention (docs/history.md): final actions past their state's retention go with their events,
// batch by batch; nothing else does. Rows are back-dated in SQL instead of waiting for a clock.

const DAY = 86_400_000;
const SETTINGS: RetentionSettings = {
  batch: 7,
  partitions_ahead: 3,
  retention: {
    succeeded: 7 * DAY,
    cancelled: 7 * DAY,
    failed: 30 * DAY,
    dead: 30 * DAY,
    expired: 30 * DAY,
    rejected: 30 * DAY,
    dead_letters: 30 * DAY,
    audit: 365 * DAY,
    resource_changes: 90 * DAY,
  },
};
const FINAL = ['succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected'];
/** Ages (days since it finished, or since it was created when not final) of the test's actions. */
const AGES = [1, 8, 31];

const silent = pino({ level: 'silent' });

function transactorOf(pool: Pool, hook?: (text: string, pid: number) => Promise<void>): Transactor {
  return async (fn) => {
    const c = await pool.connect();
    const ignore = (): void => undefined;
    c.on('error', ignore);
    let broken: Error | undefined;
    try {
      const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
      await c.query('BEGIN');
      // A client whose every statement is followed by the test's hook (it kills the backend).
      const query = async (text: string, values?: unknown[]): Promise<unknown> => {
        const r = await c.query(text, values);
        await hook?.(text, pid);
        return r;
      };
      const sql = { query } as unknown as Sql;
      const out = await fn(sql);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      broken = err as Error;
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.removeListener('error', ignore);
      c.release(broken);
    }
  };
}

/** Inserts one action of `tenant` in `state`, `age` days old, with three events across its life. */
async function backdated(pool: Pool, tenant: string, state: string, age: number): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `WITH a AS (
       INSERT INTO actions (tenant_id, type, family, state, created_at, finished_at)
       VALUES ($1, 'noop', 'control', $2, now() - ($3 + 0.01) * interval '1 day',
               CASE WHEN $2 = ANY($4::text[]) THEN now() - $3 * interval '1 day' END)
       RETURNING id, created_at)
     INSERT INTO action_events (action_id, at, from_state, to_state, actor)
     SELECT a.id, a.created_at + s * interval '1 minute', NULL, $2, 'test' FROM a, generate_series(0, 2) s
     RETURNING action_id::text AS id`,
    [tenant, state, age, FINAL],
  );
  return rows[0]?.id as string;
}

interface Census {
  actions: Map<string, string>;
  events: number;
  orphans: number;
  eventless: number;
}

async function census(pool: Pool): Promise<Census> {
  const actions = await pool.query<{ id: string; k: string }>(
    `SELECT id::text, tenant_id || '/' || state || '/' || coalesce(extract(day FROM now() - coalesce(finished_at, created_at))::text, '') AS k FROM actions`,
  );
  const { rows } = await pool.query<{ events: number; orphans: number; eventless: number }>(
    `SELECT (SELECT count(*)::int FROM action_events) AS events,
            (SELECT count(*)::int FROM action_events e WHERE NOT EXISTS (SELECT 1 FROM actions a WHERE a.id = e.action_id)) AS orphans,
            (SELECT count(*)::int FROM actions a WHERE NOT EXISTS (SELECT 1 FROM action_events e WHERE e.action_id = a.id)) AS eventless`,
  );
  return { actions: new Map(actions.rows.map((r) => [r.id, r.k])), ...(rows[0] as Omit<Census, 'actions'>) };
}

describe('history retention (a migrated database with back-dated actions)', () => {
  let database: string;
  let pool: Pool;
  /** id -> [tenant, state, age] */
  const made = new Map<string, [string, string, number]>();

  beforeAll(async () => {
    database = await createTestDatabase('cmq_history');
    pool = createPool(dbConfig(database), silent, 'cmq-history-test');
    await migrate(pool);
    await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1'), ('t2', 't2'), ('t3', 't3')");
  });

  afterAll(async () => {
    await pool.end();
    await dropTestDatabase(database);
  });

  async function fill(tenants: string[]): Promise<void> {
    for (const tenant of tenants)
      for (const state of ACTION_STATES)
        for (const age of AGES) made.set(await backdated(pool, tenant, state, age), [tenant, state, age]);
  }

  it('removes exactly the final actions past their state’s retention (a tenant’s own included), with their events', async () => {
    await fill(['t1', 't2']);
    // t2 keeps its succeeded actions 10 days, and its dead ones only 2.
    await setRetentionOverride(pool, 't2', 'succeeded', 10 * DAY);
    await setRetentionOverride(pool, 't2', 'dead', 2 * DAY);
    const keepDays = (tenant: string, state: string): number =>
      tenant === 't2' && state === 'succeeded'
        ? 10
        : tenant === 't2' && state === 'dead'
          ? 2
          : SETTINGS.retention[state as keyof RetentionSettings['retention']] / DAY;
    const before = await census(pool);
    const report = await runRetention(pool, transactorOf(pool), SETTINGS);

    const expected = [...made].filter(([, [t, s, age]]) => !(FINAL.includes(s) && age > keepDays(t, s)));
    const after = await census(pool);
    expect([...after.actions.keys()].sort()).toEqual(expected.map(([id]) => id).sort());
    expect(after.events).toBe(3 * expected.length);
    expect(after.orphans).toBe(0);
    expect(after.eventless).toBe(0);
    // Every running or waiting action stayed, whatever its age.
    for (const state of ['pending', 'queued', 'running', 'retrying'])
      expect([...after.actions.values()].filter((k) => k.includes(`/${state}/`))).toHaveLength(2 * AGES.length);
    const removed = report.actions.reduce((n, c) => n + c.actions, 0);
    expect(removed).toBe(before.actions.size - after.actions.size);
    expect(report.actions.reduce((n, c) => n + c.events, 0)).toBe(3 * removed);
    // A second pass finds nothing more.
    expect((await runRetention(pool, transactorOf(pool), SETTINGS)).actions).toEqual([]);
  });

  it('a dry run counts what a pass would remove and removes nothing', async () => {
    await setRetentionOverride(pool, 't2', 'succeeded', null); // t2's 8-day succeeded are due now
    const before = await census(pool);
    const dry = await runRetention(pool, transactorOf(pool), SETTINGS, { dryRun: true });
    expect(dry.actions).toEqual([{ state: 'succeeded', tenant: null, actions: 1, events: 0 }]);
    expect(await census(pool)).toEqual(before);
    await runRetention(pool, transactorOf(pool), SETTINGS);
    expect((await census(pool)).actions.size).toBe(before.actions.size - 1);
  });

  it('a tenant’s reset removes only that tenant’s final actions finished before the date', async () => {
    await fill(['t3']);
    const others = [...(await census(pool)).actions].filter(([id]) => made.get(id)?.[0] !== 't3');
    const before = new Date(Date.now() - 5 * DAY);
    let removed = 0;
    for (const state of FINAL)
      removed += (await pruneRule(transactorOf(pool), { state: state as 'dead', tenant: 't3', before }, 4)).actions;
    expect(removed).toBe(FINAL.length * 2); // the 8- and 31-day-old ones
    const after = await census(pool);
    const t3 = [...after.actions].filter(([id]) => made.get(id)?.[0] === 't3').map(([, k]) => k);
    expect(t3.filter((k) => FINAL.some((s) => k.includes(`/${s}/`)))).toHaveLength(FINAL.length); // the 1-day-old
    expect(t3).toHaveLength(ACTION_STATES.length * AGES.length - removed);
    expect([...after.actions].filter(([id]) => made.get(id)?.[0] !== 't3')).toEqual(others);
    expect(after.orphans + after.eventless).toBe(0);
  });

  it('a connection killed inside a batch or between batches leaves no half-deleted action', async () => {
    await pool.query("INSERT INTO tenants (id, name) VALUES ('t4', 't4')");
    for (let i = 0; i < 20; i += 1) await backdated(pool, 't4', 'succeeded', 9);
    const admin = createPool(dbConfig(database), silent, 'cmq-history-killer');
    const kill = (pid: number): Promise<unknown> => admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const rule = { state: 'succeeded' as const, keepMs: 7 * DAY, tenant: 't4' };
    try {
      // Inside the first batch: its events are deleted, its actions not yet.
      const inside = transactorOf(pool, async (text, pid) => {
        if (text.startsWith('DELETE FROM action_events')) await kill(pid);
      });
      await expect(pruneRule(inside, rule, 7)).rejects.toThrow();
      let c = await census(pool);
      expect([...c.actions.values()].filter((k) => k.startsWith('t4/'))).toHaveLength(20);
      expect(c.orphans + c.eventless).toBe(0);
      // Between batches: the first committed, the second killed before it deleted anything.
      let batches = 0;
      const between = transactorOf(pool, async (text, pid) => {
        if (text.includes('FOR UPDATE SKIP LOCKED') && ++batches === 2) await kill(pid);
      });
      await expect(pruneRule(between, rule, 7)).rejects.toThrow();
      c = await census(pool);
      expect([...c.actions.values()].filter((k) => k.startsWith('t4/'))).toHaveLength(13);
      expect(c.orphans + c.eventless).toBe(0);
      expect((await pruneRule(transactorOf(pool), rule, 7)).actions).toBe(13);
    } finally {
      await admin.end();
    }
  });

  it('creates day partitions ahead across a month boundary and drops the passed ones without live events', async () => {
    expect(await createPartitionsAhead(pool, 4, new Date('2027-01-30T15:00:00Z'))).toBe(5);
    expect(await createPartitionsAhead(pool, 4, new Date('2027-01-30T15:00:00Z'))).toBe(0);
    const names = (await eventPartitions(pool)).map((p) => p.name);
    for (const day of ['20270130', '20270131', '20270201', '20270202', '20270203'])
      expect(names).toContain(`action_events_p${day}`);
    // An event of a live action in Feb 1st keeps that day; the others are empty.
    const [live] = [...(await census(pool)).actions.keys()];
    await pool.query(
      "INSERT INTO action_events (action_id, at, to_state, actor) VALUES ($1, '2027-02-01T12:00:00Z', 'pending', 'test')",
      [live],
    );
    const dropped = await dropExpiredPartitions(transactorOf(pool), { at: new Date('2027-02-03T00:00:00Z') });
    expect(dropped).toEqual(expect.arrayContaining(['action_events_p20270130', 'action_events_p20270131']));
    expect(dropped).toContain('action_events_p20270202');
    const left = (await eventPartitions(pool)).map((p) => p.name);
    expect(left).toEqual(
      expect.arrayContaining(['action_events_legacy', 'action_events_p20270201', 'action_events_p20270203']),
    );
    expect(left.filter((n) => dropped.includes(n))).toEqual([]);
    expect(left).not.toContain('action_events_p20270131');
  });
});

describe('the history keeper', () => {
  let database: string;
  let pool: Pool;

  beforeAll(async () => {
    database = await createTestDatabase('cmq_history_keeper');
    pool = createPool(dbConfig(database), silent, 'cmq-history-keeper-test');
    await migrate(pool);
    await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
  });

  afterAll(async () => {
    await pool.end();
    await dropTestDatabase(database);
  });

  it('of two publishers, the one holding the history lease prunes; the other stands by', async () => {
    const ids: string[] = [];
    for (const state of ['succeeded', 'running', 'pending']) ids.push(await backdated(pool, 't1', state, 9));
    const keepers = ['a', 'b'].map((name) => {
      const db = new Database(dbConfig(database), silent, new StatusBoard(), `cmq-history-keeper-${name}`);
      const keeper = new HistoryKeeper({
        database: db,
        logger: silent,
        settings: SETTINGS,
        intervalMs: 1_000,
        batchPauseMs: 0,
        leaseMs: 3_000,
        actor: `publisher:${name}`,
      });
      return { db, keeper };
    });
    try {
      for (const k of keepers) await k.keeper.start();
      await waitFor(
        async () => (await pool.query('SELECT 1 FROM actions WHERE id = $1', [ids[0]])).rowCount === 0,
        20_000,
        'the 9-day-old succeeded action pruned',
      );
      const lease = await pool.query<{ holder: string }>("SELECT holder FROM sync_lease WHERE name = 'history'");
      expect(lease.rows.map((r) => r.holder)).toHaveLength(1);
      const left = await pool.query<{ state: string }>('SELECT state FROM actions ORDER BY id');
      expect(left.rows.map((r) => r.state)).toEqual(['running', 'pending']);
    } finally {
      for (const k of keepers) {
        await k.keeper.close();
        await k.db.close();
      }
    }
    expect((await pool.query("SELECT 1 FROM sync_lease WHERE name = 'history'")).rowCount).toBe(0);
  });

  it('rests history.batch_pause after each full batch, and closing cuts the rest short', async () => {
    await pool.query('DELETE FROM action_events; DELETE FROM actions');
    for (let i = 0; i < 5; i++) await backdated(pool, 't1', 'succeeded', 9);
    const db = new Database(dbConfig(database), silent, new StatusBoard(), 'cmq-history-keeper-pause');
    const keeper = new HistoryKeeper({
      database: db,
      logger: silent,
      settings: { ...SETTINGS, batch: 2 },
      intervalMs: 1_000,
      batchPauseMs: 3_600_000,
      leaseMs: 3_000,
      actor: 'publisher:pause',
    });
    const left = async (): Promise<number> =>
      Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM actions')).rows[0]?.n);
    try {
      await keeper.start();
      await waitFor(async () => (await left()) < 5, 20_000, 'a first batch pruned');
    } finally {
      await keeper.close();
      await db.close();
    }
    // One batch of two, then an hour's rest that close() ended: the other three are still there.
    expect(await left()).toBe(3);
  });
});

describe('migration 017 over a populated database', () => {
  let database: string;
  let pool: Pool;
  let dir: string;

  beforeAll(async () => {
    database = await createTestDatabase('cmq_history_migration');
    pool = createPool(dbConfig(database), silent, 'cmq-history-migration-test');
    dir = mkdtempSync(join(tmpdir(), 'cmq-migrations-016-'));
    for (const f of readdirSync(MIGRATIONS_DIR))
      if (/^0*(\d+)_/.test(f) && Number(/^0*(\d+)_/.exec(f)?.[1]) <= 16) cpSync(join(MIGRATIONS_DIR, f), join(dir, f));
  });

  afterAll(async () => {
    await pool.end();
    await dropTestDatabase(database);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every event and action, and new events carry on the ids', async () => {
    expect((await migrate(pool, dir)).at(-1)?.version).toBe(16);
    await pool.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
    await pool.query(
      `INSERT INTO actions (tenant_id, type, family, state, finished_at) SELECT 't1', 'noop', 'control', 'succeeded', now() - g * interval '1 minute' FROM generate_series(1, 20000) g`,
    );
    await pool.query(
      `INSERT INTO action_events (action_id, at, to_state, actor) SELECT a.id, now() - a.id * interval '1 minute' - s * interval '1 second', 'pending', 'fill' FROM actions a, generate_series(1, 4) s`,
    );
    const digest = `SELECT count(*)::int AS n, sum(id)::text AS ids, md5(string_agg(action_id || at::text || to_state, ',' ORDER BY id)) AS h FROM action_events`;
    const before = (await pool.query<Record<string, unknown>>(digest)).rows[0];
    const maxId = (await pool.query<{ m: string }>('SELECT max(id)::text AS m FROM action_events')).rows[0]?.m;
    await migrate(pool);
    expect((await pool.query(digest)).rows[0]).toEqual(before);
    expect((await pool.query('SELECT count(*)::int AS n FROM action_events_legacy')).rows[0]).toEqual({ n: 80_000 });
    expect((await pool.query('SELECT count(*)::int AS n FROM actions')).rows[0]).toEqual({ n: 20_000 });
    const next = await pool.query<{ id: string; p: string }>(
      "INSERT INTO action_events (action_id, to_state, actor) VALUES (1, 'queued', 'test') RETURNING id::text, tableoid::regclass::text AS p",
    );
    expect(BigInt(next.rows[0]?.id as string)).toBeGreaterThan(BigInt(maxId as string));
  });
});
