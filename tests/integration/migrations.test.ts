import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import pino from 'pino';
import {
  type DbConfig,
  MIGRATIONS_DIR,
  SchemaError,
  checkSchema,
  createPool,
  listMigrations,
  migrate,
  schemaVersion,
  withTransaction,
} from '@cmq/common';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';

const logger = pino({ level: 'silent' });

/** The shipped migrations; the tests add theirs after the last one, so new releases do not break them. */
const SHIPPED = listMigrations().map((m) => m.version);
const LATEST = SHIPPED.at(-1) ?? 0;
const NEXT = LATEST + 1;
const nextFile = (name: string): string => `${String(NEXT).padStart(3, '0')}_${name}.sql`;

function dbConfig(database: string, max = 4): DbConfig['db'] {
  return testDbConfig(database, { max, connectTimeoutMs: 5_000 });
}

/** A copy of the shipped migrations in a temporary directory, with `extra` files added. */
function migrationsCopy(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'cmq-migrations-'));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  for (const [file, sql] of Object.entries(extra)) writeFileSync(join(dir, file), sql);
  dirs.push(dir);
  return dir;
}

async function tableExists(pool: Pool, table: string): Promise<boolean> {
  const r = await pool.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  return r.rows[0]?.t != null;
}

async function recordedVersions(pool: Pool): Promise<number[]> {
  return (await pool.query<{ version: number }>('SELECT version FROM cmq_schema_migrations ORDER BY version')).rows.map(
    (r) => r.version,
  );
}

const dirs: string[] = [];
let database: string;
let pools: Pool[];

/** A pool on this test's database, ended after the test. */
function pool(max = 4): Pool {
  const p = createPool(dbConfig(database, max), logger, 'cmq-migrations-test');
  pools.push(p);
  return p;
}

beforeEach(async () => {
  database = await createTestDatabase('cmq_mig');
  pools = [];
});

afterEach(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await dropTestDatabase(database);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('migrations', () => {
  it('checkSchema refuses a database that was never migrated, saying to run `cmq migrate`', async () => {
    const p = pool();
    expect(await schemaVersion(p)).toBeUndefined();
    const err = await checkSchema(p, database).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).code).toBe('CMQ_ERR_SCHEMA');
    expect((err as SchemaError).message).toContain(`database "${database}" has no cmq schema`);
    expect((err as SchemaError).message).toContain('run `cmq migrate`');
  });

  it('migrate applies 001 (and every other shipped migration) and a second run applies nothing', async () => {
    const p = pool();
    const first = await migrate(p);
    expect(first.map((m) => m.version)).toEqual(SHIPPED);
    expect(first[0]).toMatchObject({ version: 1, name: 'tenants' });
    expect(await tableExists(p, 'tenants')).toBe(true);
    expect(await checkSchema(p, database)).toBe(LATEST);

    expect(await migrate(p)).toEqual([]);
    expect(await recordedVersions(p)).toEqual(SHIPPED);
  });

  it('two concurrent migrate() runs from two pools both succeed and apply each migration once', async () => {
    // A slow second migration widens the window in which the runs would overlap without the lock.
    const dir = migrationsCopy({
      [nextFile('slow')]: 'SELECT pg_sleep(0.3);\nCREATE TABLE slow_thing (id int PRIMARY KEY);\n',
    });
    const [a, b] = await Promise.all([migrate(pool(), dir), migrate(pool(), dir)]);
    const applied = [...(a ?? []), ...(b ?? [])].map((m) => m.version).sort((x, y) => x - y);
    expect(applied).toEqual([...SHIPPED, NEXT]);
    const p = pool();
    expect(await recordedVersions(p)).toEqual([...SHIPPED, NEXT]);
    expect(await checkSchema(p, database, dir)).toBe(NEXT);
  });

  it('refuses to go on when an applied migration file was edited', async () => {
    const dir = migrationsCopy();
    const p = pool();
    await migrate(p, dir);
    appendFileSync(join(dir, '001_tenants.sql'), '-- an innocent-looking edit\n');
    const err = await migrate(p, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).message).toMatch(/migration 0*1_tenants was changed after it was applied/);
    // The advisory lock was released: another run is not blocked.
    expect(await migrate(pool(), MIGRATIONS_DIR)).toEqual([]);
  });

  it('checkSchema names both versions when the database is older than the release', async () => {
    const p = pool();
    await migrate(p);
    const dir = migrationsCopy({ [nextFile('more')]: 'CREATE TABLE more_thing (id int PRIMARY KEY);\n' });
    const err = await checkSchema(p, database, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    const message = (err as SchemaError).message;
    expect(message).toContain(`schema version ${LATEST},`);
    expect(message).toContain(`older than version ${NEXT}`);
    expect(message).toContain('run `cmq migrate`');

    expect((await migrate(p, dir)).map((m) => m.version)).toEqual([NEXT]);
    expect(await checkSchema(p, database, dir)).toBe(NEXT);
  });

  it('a failing migration leaves nothing half-applied', async () => {
    const dir = migrationsCopy({
      [nextFile('broken')]: 'CREATE TABLE broken_thing (id int);\nSELECT no_such_function();\n',
    });
    const p = pool();
    const err = await migrate(p, dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).message).toMatch(new RegExp(`migration 0*${NEXT}_broken failed: .*no_such_function`));
    // The shipped ones went in (each in its own transaction); the broken one neither created
    // its table nor was recorded.
    expect(await recordedVersions(p)).toEqual(SHIPPED);
    expect(await tableExists(p, 'tenants')).toBe(true);
    expect(await tableExists(p, 'broken_thing')).toBe(false);
    // The lock was released and the pool's client is usable: fixing the file lets it apply.
    writeFileSync(join(dir, nextFile('broken')), 'CREATE TABLE broken_thing (id int);\n');
    expect((await migrate(pool(), dir)).map((m) => m.version)).toEqual([NEXT]);
    expect(await tableExists(p, 'broken_thing')).toBe(true);
  });
});

/** The sha256 of 017 as first shipped: databases migrated before its rewrite have it recorded. */
const FIRST_017 = '9a2344f2d3344367068f57ed40eadcb42f63b45203cf4c33cd5e4ff5dc558dc8';

async function indexValid(p: Pool, name: string): Promise<boolean | undefined> {
  const r = await p.query<{ v: boolean }>('SELECT indisvalid AS v FROM pg_index WHERE indexrelid = to_regclass($1)', [
    name,
  ]);
  return r.rows[0]?.v;
}

describe('migrations with online steps', () => {
  it('accepts 017 recorded with the sha256 of its first text, and still refuses an unknown one', async () => {
    const p = pool();
    await migrate(p);
    await p.query('UPDATE cmq_schema_migrations SET sha256 = $1 WHERE version = 17', [FIRST_017]);
    expect(await migrate(p)).toEqual([]);
    expect(await checkSchema(p, database)).toBe(LATEST);

    await p.query("UPDATE cmq_schema_migrations SET sha256 = repeat('0', 64) WHERE version = 17");
    const err = await migrate(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).message).toMatch(/migration 0*17_history_retention was changed after it was applied/);
  });

  it('records the version only when every part succeeded; a rerun after a failure finishes it', async () => {
    const p = pool();
    const online = [
      'CREATE TABLE IF NOT EXISTS parts_thing (id int, v int);',
      '-- cmq:online',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS parts_thing_v ON parts_thing (v);',
      '-- cmq:transaction',
    ].join('\n');
    const dir = migrationsCopy({ [nextFile('parts')]: `${online}\nSELECT no_such_function();\n` });
    const err = await migrate(p, dir).catch((e: unknown) => e);
    expect((err as SchemaError).message).toMatch(
      new RegExp(`migration 0*${NEXT}_parts failed \\(transactional part at line 5\\): .*no_such_function`),
    );
    // The parts before the failure committed; the version was not recorded.
    expect(await indexValid(p, 'parts_thing_v')).toBe(true);
    expect(await recordedVersions(p)).toEqual(SHIPPED);

    writeFileSync(join(dir, nextFile('parts')), `${online}\nSELECT 1;\n`);
    const steps: string[] = [];
    const applied = await migrate(p, dir, { onStep: (s) => steps.push(`${s.version}:${s.kind}@${s.line}`) });
    expect(applied.map((m) => m.version)).toEqual([NEXT]);
    expect(steps).toEqual([`${NEXT}:transaction@1`, `${NEXT}:online@3`, `${NEXT}:transaction@5`]);
    expect(await recordedVersions(p)).toEqual([...SHIPPED, NEXT]);
  });

  it('drops the invalid index a failed CREATE INDEX CONCURRENTLY left, and builds it again', async () => {
    const p = pool();
    await migrate(p);
    // A unique build over duplicates fails as a killed one does: the index stays, INVALID.
    await p.query('CREATE TABLE leftover_thing (v int); INSERT INTO leftover_thing VALUES (1), (1)');
    await expect(p.query('CREATE UNIQUE INDEX CONCURRENTLY leftover_thing_v ON leftover_thing (v)')).rejects.toThrow(
      /could not create unique index/,
    );
    expect(await indexValid(p, 'leftover_thing_v')).toBe(false);

    const dir = migrationsCopy({
      [nextFile('leftover')]:
        '-- cmq:online\nCREATE INDEX CONCURRENTLY IF NOT EXISTS leftover_thing_v ON leftover_thing (v);\n',
    });
    expect((await migrate(p, dir)).map((m) => m.version)).toEqual([NEXT]);
    expect(await indexValid(p, 'leftover_thing_v')).toBe(true);
    expect(await recordedVersions(p)).toEqual([...SHIPPED, NEXT]);
  });

  it('refuses two statements in one online step instead of running them as one transaction', async () => {
    const p = pool();
    const dir = migrationsCopy({
      [nextFile('two')]: '-- cmq:online\nCREATE TABLE two_a (id int); CREATE TABLE two_b (id int);\n',
    });
    const err = await migrate(p, dir).catch((e: unknown) => e);
    expect((err as SchemaError).message).toMatch(
      new RegExp(`migration 0*${NEXT}_two failed: cannot insert multiple commands into a prepared statement`),
    );
    expect(await tableExists(p, 'two_a')).toBe(false);
    expect(await recordedVersions(p)).toEqual(SHIPPED);
  });
});

describe('withTransaction', () => {
  let p: Pool;
  const count = async (): Promise<number> =>
    Number((await p.query<{ n: string }>('SELECT count(*) AS n FROM tx_test')).rows[0]?.n);

  beforeEach(async () => {
    // One connection: a client that was not released would make the next query wait forever.
    p = pool(1);
    await p.query('CREATE TABLE tx_test (id int PRIMARY KEY)');
  });

  it('commits when the function succeeds', async () => {
    const result = await withTransaction(p, async (c) => {
      await c.query('INSERT INTO tx_test VALUES (1), (2)');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await count()).toBe(2);
  });

  it('rolls back when the function throws, rethrows the error, and the pool stays usable', async () => {
    const boom = new Error('boom');
    const outcome = withTransaction(p, async (c) => {
      await c.query('INSERT INTO tx_test VALUES (1)');
      throw boom;
    });
    await expect(outcome).rejects.toBe(boom);
    expect(await count()).toBe(0);
    // Not left inside an aborted transaction either: a write on the same (only) connection commits.
    await withTransaction(p, (c) => c.query('INSERT INTO tx_test VALUES (3)'));
    expect(await count()).toBe(1);
    expect(p.totalCount).toBe(1);
    expect(p.idleCount).toBe(1);
  });

  it('rolls back a failed statement and discards nothing it does not have to', async () => {
    const pidBefore = (await p.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const outcome = withTransaction(p, async (c) => {
      await c.query('INSERT INTO tx_test VALUES (1)');
      await c.query('INSERT INTO tx_test VALUES (1)');
    });
    await expect(outcome).rejects.toMatchObject({ code: '23505' });
    expect(await count()).toBe(0);
    const pidAfter = (await p.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    expect(pidAfter).toBe(pidBefore);
  });

  it('survives the backend dying mid-transaction: rejects, discards the client, the pool reconnects', async () => {
    const killer = pool(1);
    let deadPid: number | undefined;
    const outcome = withTransaction(p, async (c) => {
      deadPid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      await killer.query('SELECT pg_terminate_backend($1)', [deadPid]);
      // Idle between statements when the backend goes: the error arrives as an event, not a
      // query failure. Without a listener on the checked-out client the process would crash.
      // A fixed wait on purpose: the client must sit idle while the error arrives.
      await new Promise((r) => setTimeout(r, 300));
      await c.query('INSERT INTO tx_test VALUES (1)');
    });
    await expect(outcome).rejects.toThrow();
    const pidAfter = (await p.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    expect(pidAfter).not.toBe(deadPid);
    expect(await count()).toBe(0);
  });
});
