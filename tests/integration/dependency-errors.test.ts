import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import pino from 'pino';
import {
  CmqError,
  Database,
  RedisClient,
  StatusBoard,
  createPool,
  isDataRefusal,
  isDependencyUnavailable,
  migrate,
} from '@cmq/common';
import { PgCluster, RedisServer, freePort } from '../helpers/private-servers';
import { testDbConfig } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// The adapters say "a dependency of cmq is unavailable" by a code (CMQ_ERR_DEPENDENCY_UNAVAILABLE),
// on real servers that go away: the subscriber's decision and its pausing rest on it.

const logger = pino({ level: 'silent' });

describe('Redis stores', () => {
  let server: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    server = new RedisServer(await freePort());
    await server.start();
    const cfg = {
      ...{ mode: 'standalone' as const, host: '127.0.0.1', port: server.port, password: '', db: 0 },
      ...{ sentinels: [], sentinel: { master_name: 'mymaster' }, connect_timeout: 2_000 },
    };
    client = new RedisClient(cfg, logger, new StatusBoard(), `cmq-test-deps-${randomBytes(4).toString('hex')}`);
    await client.start(new AbortController().signal);
  });

  afterAll(async () => {
    await client.close();
    await server.kill();
  });

  it('fail with CMQ_ERR_DEPENDENCY_UNAVAILABLE while Redis is away, availability says so, and work again after', async () => {
    const seen: boolean[] = [];
    client.onAvailability((up) => seen.push(up));
    await client.noopRuns.increment('t', '1');
    await server.kill();
    await waitFor(() => seen.includes(false), 10_000, 'Redis seen away');
    for (const op of [
      () => client.noopRuns.increment('t', '1'),
      () => client.probes.writeLatest('t', 'host', 'qstat', {}),
      () => client.resources.replace('t', '1', 'server', new Date(), new Map()),
      () => client.tokenBuckets.step('k', { rate: 1, burst: 1, stepMs: 1_000, minFactor: 0.1, mode: 'take' }),
    ]) {
      const err: unknown = await op().catch((e: unknown) => e);
      expect(isDependencyUnavailable(err)).toBe(true);
      expect(err).toMatchObject({ dependency: 'redis', transient: true });
      expect((err as Error).message).toMatch(/^Redis is unavailable \(/);
    }
    await server.start();
    await waitFor(() => seen.at(-1) === true, 15_000, 'Redis seen back');
    await client.noopRuns.increment('t', '1');
  });

  it('an error Redis replies about the command itself is not an outage', async () => {
    // A Lua error inside the cache script: Redis answered, the command is wrong.
    const states = new Map([['x', 1]]);
    const err: unknown = await client.resources
      .replace('t', '1', 'server', new Date(Number.NaN), states)
      .catch((e: unknown) => e);
    expect(isDependencyUnavailable(err)).toBe(false);
  });

  it("a result that cannot be serialized is the caller's error, not an outage", async () => {
    const err: unknown = await client.probes.writeLatest('t', 'host', 'qstat', { n: 1n }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(isDependencyUnavailable(err)).toBe(false);
  });
});

describe('Database', () => {
  let cluster: PgCluster;
  let db: Database;

  beforeAll(async () => {
    cluster = new PgCluster(await freePort());
    await cluster.init();
    await cluster.start();
    const admin = new Client({ host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE cmq_deps');
    await admin.end();
    const config = testDbConfig('cmq_deps', { port: cluster.port, max: 2 });
    const pool = createPool(config, logger, 'cmq-deps-migrate');
    await migrate(pool);
    await pool.end();
    // A slow probe: the first failing statement must mark the database away by itself.
    db = new Database(config, logger, new StatusBoard(), 'cmq-deps-test', 60_000);
    await db.start(new AbortController().signal);
  }, 120_000);

  afterAll(async () => {
    await db.close();
    await cluster.remove();
  });

  it("an error of the transaction's own code passes unchanged and leaves the database available", async () => {
    // Shaped like a socket error of another dependency (the relay publishes inside its transaction).
    const own = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5672'), { syscall: 'connect' });
    const err: unknown = await db
      .transaction(async (sql) => {
        await sql.query('SELECT 1');
        throw own;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(own);
    expect(db.available).toBe(true);
  });

  it("a connection lost under a transaction's statement is an outage", async () => {
    const err: unknown = await db
      .transaction((sql) => sql.query('SELECT pg_terminate_backend(pg_backend_pid())'))
      .catch((e: unknown) => e);
    expect(isDependencyUnavailable(err)).toBe(true);
    expect(db.available).toBe(false);
    await waitFor(() => db.available, 10_000, 'the database seen back');
  });

  it('sql and transaction fail with CMQ_ERR_DEPENDENCY_UNAVAILABLE while PostgreSQL is away; availability follows', async () => {
    const seen: boolean[] = [];
    db.onAvailability((up) => seen.push(up));
    // A refusal of the data is the statement's own, not an outage.
    const refused: unknown = await db.sql.query("SELECT 'x'::int").catch((e: unknown) => e);
    expect(isDataRefusal(refused)).toBe(true);
    expect(isDependencyUnavailable(refused)).toBe(false);
    expect(db.available).toBe(true);

    await cluster.stop();
    for (const op of [() => db.sql.query('SELECT 1'), () => db.transaction((sql) => sql.query('SELECT 1'))]) {
      const err: unknown = await op().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CmqError);
      expect(err).toMatchObject({ code: 'CMQ_ERR_DEPENDENCY_UNAVAILABLE', dependency: 'postgres', transient: true });
      expect((err as Error).message).toContain(`PostgreSQL at 127.0.0.1:${cluster.port}/cmq_deps is unavailable: `);
    }
    expect(db.available).toBe(false);
    expect(seen).toEqual([false]);

    await cluster.start();
    // Away, it is probed every second, not every minute.
    await waitFor(() => db.available, 10_000, 'the database seen back');
    expect(seen).toEqual([false, true]);
    expect((await db.sql.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
  }, 120_000);
});
