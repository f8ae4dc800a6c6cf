import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import pino from 'pino';
import { Database, type DbConfig, SchemaError, StatusBoard, createPool, migrate } from '@cmq/common';
import { PgCluster, freePort } from '../helpers/private-servers';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { waitFor } from '../helpers/wait';

const logger = pino({ level: 'silent' });

function dbConfig(database: string, port = 5432): DbConfig['db'] {
  return testDbConfig(database, { port, max: 2 });
}

const components: Database[] = [];

function makeDatabase(
  db: DbConfig['db'],
  healthIntervalMs?: number,
): { database: Database; status: StatusBoard; statuses: string[] } {
  const status = new StatusBoard();
  const statuses: string[] = [];
  status.onChange(() => statuses.push(status.summary()));
  const database = new Database(db, logger, status, 'cmq-postgres-test', healthIntervalMs);
  components.push(database);
  return { database, status, statuses };
}

/** Creates the schema in `db` with a pool of the test's own. */
async function migrated(db: DbConfig['db']): Promise<void> {
  const pool = createPool(db, logger, 'cmq-postgres-test-migrate');
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
}

afterEach(async () => {
  await Promise.all(components.splice(0).map((d) => d.close()));
});

describe('Database against the shared server', () => {
  const created: string[] = [];

  afterAll(async () => {
    for (const name of created) await dropTestDatabase(name);
  });

  async function database(): Promise<string> {
    const name = await createTestDatabase('cmq_pgtest');
    created.push(name);
    return name;
  }

  it('waits while nothing listens, saying where, and returns when its signal aborts', async () => {
    const port = await freePort();
    const { database: db, status } = makeDatabase(dbConfig('cmq_nowhere', port));
    const abort = new AbortController();
    const starting = db.start(abort.signal);
    await waitFor(
      () => status.summary().startsWith(`waiting for database at 127.0.0.1:${port}/cmq_nowhere (`),
      10_000,
      'the waiting status',
    );
    abort.abort();
    await expect(starting).resolves.toBeUndefined();
  });

  it('refuses a database that does not exist, saying to run `cmq migrate --create-database`', async () => {
    const missing = `cmq_missing_${randomBytes(4).toString('hex')}`;
    const { database: db } = makeDatabase(dbConfig(missing));
    const err = await db.start(new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).message).toContain(`database "${missing}" does not exist`);
    expect((err as SchemaError).message).toContain('cmq migrate --create-database');
  });

  it('refuses a database without the cmq schema at once, saying to run `cmq migrate`', async () => {
    const { database: db } = makeDatabase(dbConfig(await database()));
    const err = await db.start(new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as SchemaError).message).toContain('run `cmq migrate`');
  });

  it('starts on a migrated database with a clear status, and close is idempotent', async () => {
    const config = dbConfig(await database());
    await migrated(config);
    const { database: db, status, statuses } = makeDatabase(config);
    await db.start(new AbortController().signal);
    expect(status.summary()).toBe('');
    expect(statuses).toEqual([]);
    expect((await db.pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
    await db.close();
    await db.close();
    expect(db.pool.ended).toBe(true);
  });
});

describe('Database against a throwaway cluster that comes and goes', () => {
  let cluster: PgCluster;
  let config: DbConfig['db'];

  beforeAll(async () => {
    cluster = new PgCluster(await freePort());
    await cluster.init();
    await cluster.start();
    config = dbConfig('cmq_private', cluster.port);
    const admin = new Client({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE cmq_private');
    await admin.end();
    await migrated(config);
    await cluster.stop();
  });

  afterAll(async () => {
    await cluster.remove();
  });

  it('start waits while the server is down and resolves by itself once it is up; the probe follows later outages', async () => {
    const { database: db, status } = makeDatabase(config, 200);
    let started = false;
    const starting = db.start(new AbortController().signal).then(() => (started = true));
    const waiting = `waiting for database at 127.0.0.1:${cluster.port}/cmq_private (`;
    await waitFor(() => status.summary().startsWith(waiting), 10_000, 'the waiting status');
    expect(started).toBe(false);

    await cluster.start();
    await starting;
    expect(status.summary()).toBe('');

    // Running, with idle pooled connections: their backends dying must not crash the process.
    await db.pool.query('SELECT 1');
    await cluster.stop();
    await waitFor(() => status.summary().startsWith(waiting), 10_000, 'the waiting status after an outage');
    await cluster.start();
    await waitFor(() => status.summary() === '', 10_000, 'the status to clear');
    expect((await db.pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
  });
});
