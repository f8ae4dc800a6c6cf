import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Pool, PoolClient } from 'pg';
import pino from 'pino';
import { MIGRATIONS_DIR, SchemaError, createPool, listMigrations, migrate } from '@cmq/common';
import { waitFor } from '../helpers/wait';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

// Migration 017 over an installation at 016 while services of the previous release go on
// writing (decision 0025): its scan and index builds run online, a crash in the middle of them
// is finished by a rerun, and no row is lost either way.

const silent = pino({ level: 'silent' });
const AFTER_16 = listMigrations()
  .map((m) => m.version)
  .filter((v) => v > 16);
const DIGEST = `SELECT count(*)::int AS n, sum(id)::text AS ids,
  md5(string_agg(action_id || at::text || to_state, ',' ORDER BY id)) AS h FROM action_events WHERE id <= $1`;
const INDEXES = ['actions_final', 'actions_tenant_recent', 'resource_changes_at'];

let database: string;
let dir16: string;
let pools: Pool[];
let writers: Writer[];
let maxId: string;
let before: Record<string, unknown>;

function pool(max = 4): Pool {
  const p = createPool(testDbConfig(database, { max }), silent, 'cmq-migration-017-test');
  pools.push(p);
  return p;
}

beforeAll(() => {
  dir16 = mkdtempSync(join(tmpdir(), 'cmq-migrations-016-'));
  for (const m of listMigrations().filter((x) => x.version <= 16))
    for (const f of readdirSync(MIGRATIONS_DIR).filter((n) => n.startsWith(`${String(m.version).padStart(3, '0')}_`)))
      cpSync(join(MIGRATIONS_DIR, f), join(dir16, f));
});

afterAll(() => rmSync(dir16, { recursive: true, force: true }));

/** An installation at 016 with 20,000 finished actions and 80,000 events. */
beforeEach(async () => {
  database = await createTestDatabase('cmq_mig017');
  pools = [];
  writers = [];
  const p = pool();
  expect((await migrate(p, dir16)).at(-1)?.version).toBe(16);
  await p.query("INSERT INTO tenants (id, name) VALUES ('t1', 't1')");
  await p.query(
    `INSERT INTO actions (tenant_id, type, family, state, finished_at) SELECT 't1', 'noop', 'control', 'succeeded', now() - g * interval '1 minute' FROM generate_series(1, 20000) g`,
  );
  await p.query(
    `INSERT INTO action_events (action_id, at, to_state, actor) SELECT a.id, now() - a.id * interval '1 minute' - s * interval '1 second', 'pending', 'fill' FROM actions a, generate_series(1, 4) s`,
  );
  maxId = (await p.query<{ m: string }>('SELECT max(id)::text AS m FROM action_events')).rows[0]?.m as string;
  before = (await p.query<Record<string, unknown>>(DIGEST, [maxId])).rows[0] as Record<string, unknown>;
});

afterEach(async () => {
  for (const w of writers) await w.stop();
  await Promise.all(pools.map((p) => p.end()));
  await dropTestDatabase(database);
});

interface Writer {
  written: string[];
  failures: unknown[];
  stop: () => Promise<void>;
}

/** Writes as a subscriber of the previous release does: an action, then its event, every few ms. */
function oldReleaseWriter(p: Pool): Writer {
  const written: string[] = [];
  const failures: unknown[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const a = await p.query<{ id: string }>(
          "INSERT INTO actions (tenant_id, type, family) VALUES ('t1', 'noop', 'control') RETURNING id::text AS id",
        );
        const id = a.rows[0]?.id as string;
        await p.query("INSERT INTO action_events (action_id, to_state, actor) VALUES ($1, 'pending', 'old-release')", [
          id,
        ]);
        written.push(id);
      } catch (err) {
        failures.push(err);
      }
      await delay(5);
    }
  })();
  const w = {
    written,
    failures,
    stop: async () => {
      running = false;
      await loop;
    },
  };
  writers.push(w);
  return w;
}

/** A transaction holding a snapshot (and no table lock): CREATE INDEX CONCURRENTLY waits for it to end. */
async function holdSnapshot(p: Pool): Promise<PoolClient> {
  const c = await p.connect();
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await c.query('SELECT 1');
  return c;
}

/** The pid of the backend building `index` concurrently once it waits for older snapshots. */
async function waitForIndexBuild(p: Pool, index: string): Promise<number> {
  let pid: number | undefined;
  await waitFor(
    async () => {
      const r = await p.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'virtualxid'
           AND query LIKE '%CREATE INDEX CONCURRENTLY IF NOT EXISTS ' || $1 || ' %'`,
        [index],
      );
      pid = r.rows[0]?.pid;
      return pid !== undefined;
    },
    20_000,
    `CREATE INDEX CONCURRENTLY ${index} waiting for an older snapshot`,
  );
  return pid as number;
}

async function indexesValid(p: Pool): Promise<Record<string, boolean | null>> {
  const r = await p.query<{ n: string; v: boolean | null }>(
    'SELECT n, (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(n)) AS v FROM unnest($1::text[]) n',
    [INDEXES],
  );
  return Object.fromEntries(r.rows.map((x) => [x.n, x.v]));
}

async function recorded(p: Pool): Promise<number[]> {
  const r = await p.query<{ v: number }>(
    'SELECT version AS v FROM cmq_schema_migrations WHERE version > 16 ORDER BY 1',
  );
  return r.rows.map((x) => x.v);
}

/** Every event from before the migration, and every action and event the writer wrote. */
async function expectEveryRow(p: Pool, w: Writer): Promise<void> {
  expect((await p.query(DIGEST, [maxId])).rows[0]).toEqual(before);
  expect(
    (await p.query('SELECT count(*)::int AS n FROM action_events_legacy WHERE id <= $1', [maxId])).rows[0],
  ).toEqual({
    n: 80_000,
  });
  const found = await p.query<{ a: number; e: number }>(
    `SELECT (SELECT count(*)::int FROM actions WHERE id = ANY($1::bigint[])) AS a,
            (SELECT count(*)::int FROM action_events WHERE actor = 'old-release' AND action_id = ANY($1::bigint[])) AS e`,
    [w.written],
  );
  expect(found.rows[0]).toEqual({ a: w.written.length, e: w.written.length });
  expect((await p.query('SELECT count(*)::int AS n FROM actions')).rows[0]).toEqual({ n: 20_000 + w.written.length });
}

describe('migration 017 online', () => {
  it('writes of the previous release go on during the online steps, all succeed and are all kept', async () => {
    const p = pool();
    const writer = oldReleaseWriter(pool(2));
    const holder = await holdSnapshot(pool(1));
    const migration = migrate(p);
    try {
      await waitForIndexBuild(pool(1), 'actions_final');
      // The build is waiting in its online step: writes to both tables go on meanwhile.
      const during = writer.written.length;
      await waitFor(() => writer.written.length >= during + 20, 20_000, '20 writes during the index build');
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    expect((await migration).map((m) => m.version)).toEqual(AFTER_16);
    const after = writer.written.length;
    await waitFor(() => writer.written.length >= after + 5, 20_000, 'writes after the takeover');
    await writer.stop();
    expect(writer.failures).toEqual([]);
    await expectEveryRow(p, writer);
    expect(await indexesValid(p)).toEqual({
      actions_final: true,
      actions_tenant_recent: true,
      resource_changes_at: true,
    });
  });

  it('a crash in CREATE INDEX CONCURRENTLY leaves an invalid index; a rerun drops it, builds it and keeps every row', async () => {
    const p = pool();
    const writer = oldReleaseWriter(pool(2));
    const holder = await holdSnapshot(pool(1));
    const migration = migrate(p).catch((e: unknown) => e);
    try {
      const pid = await waitForIndexBuild(pool(1), 'actions_final');
      await pool(1).query('SELECT pg_terminate_backend($1)', [pid]);
      const err = await migration;
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as SchemaError).message).toMatch(
        /^migration 17_history_retention failed \(online step at line \d+\): /,
      );
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    // Half done: the constraint validated, the first index left invalid, the table not taken over.
    expect(await indexesValid(p)).toEqual({
      actions_final: false,
      actions_tenant_recent: null,
      resource_changes_at: null,
    });
    const check = await p.query("SELECT convalidated FROM pg_constraint WHERE conname = 'action_events_legacy_range'");
    expect(check.rows).toEqual([{ convalidated: true }]);
    expect(await recorded(p)).toEqual([]);
    const kind = await p.query("SELECT relkind FROM pg_class WHERE relname = 'action_events'");
    expect(kind.rows[0]).toEqual({ relkind: 'r' });

    expect((await migrate(p)).map((m) => m.version)).toEqual(AFTER_16);
    await writer.stop();
    expect(writer.failures).toEqual([]);
    expect(await indexesValid(p)).toEqual({
      actions_final: true,
      actions_tenant_recent: true,
      resource_changes_at: true,
    });
    expect(await recorded(p)).toEqual(AFTER_16);
    await expectEveryRow(p, writer);
  });

  it('two concurrent runs over the populated database wait for each other and apply 017 once', async () => {
    const [a, b] = await Promise.all([migrate(pool()), migrate(pool())]);
    const applied = [...a, ...b].map((m) => m.version).sort((x, y) => x - y);
    expect(applied).toEqual(AFTER_16);
    const p = pool();
    expect(await recorded(p)).toEqual(AFTER_16);
    expect((await p.query(DIGEST, [maxId])).rows[0]).toEqual(before);
    expect(await indexesValid(p)).toEqual({
      actions_final: true,
      actions_tenant_recent: true,
      resource_changes_at: true,
    });
  });
});
