import { hostname } from 'node:os';
import pino from 'pino';
import { type PingerSummary, Recovery } from '@cmq/actions';
import {
  AmqpClient,
  Database,
  type DbConfig,
  Heartbeat,
  type HeartbeatStats,
  PINGER_LEASE_KEY,
  PINGER_SUMMARY_KEY,
  type RedisConfig,
  RedisClient,
  StatusBoard,
  heartbeatKey,
  migrate,
} from '@cmq/common';
import type { PingerConfig } from '@cmq/config';
import { Redis } from 'ioredis';
import { Pinger, heartbeatProbe } from '@cmq/pinger';
import { RedisServer, freePort } from '../helpers/private-servers';
import { createTestDatabase, dropTestDatabase, testDbConfig } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// A Redis database of its own: the lease and summary keys are global names.
const REDIS_DB = 13;
/** The lease lasts 2 intervals: long enough that two ticks back to back on a loaded machine never outlast it. */
const INTERVAL = 1_500;
const logger = pino({ level: 'silent' });

let dbName: string;
let database: Database;
const redisClients: RedisClient[] = [];
const pingers: Pinger[] = [];
const abort = new AbortController();

function dbConfig(database: string): DbConfig['db'] {
  return testDbConfig(database, { connectTimeoutMs: 5_000 });
}

const redisConfig: RedisConfig['redis'] = {
  mode: 'standalone',
  host: '127.0.0.1',
  port: 6379,
  password: '',
  db: REDIS_DB,
  sentinels: [],
  sentinel: { master_name: 'mymaster' },
  connect_timeout: 2_000,
};

/** The test's own connection to the same database, to look at and set up keys. */
const raw = new Redis({ host: redisConfig.host, port: redisConfig.port, db: REDIS_DB, lazyConnect: true });

/** A pinger with its own Redis connection; the broker client is never started (rabbitmq reported down). */
async function makePinger(identity: string, retention = 7 * 24 * 3_600_000): Promise<Pinger> {
  const status = new StatusBoard();
  const redis = new RedisClient(redisConfig, logger, status, `cmq-test-${identity.replace(/[^A-Za-z0-9_-]/g, '_')}`);
  await redis.start(abort.signal);
  redisClients.push(redis);
  const amqp = new AmqpClient({
    config: {
      urls: ['amqp://127.0.0.1:5672'],
      vhost: '/',
      heartbeat: 0,
      connect_timeout: 1_000,
      reconnect: { initial_delay: 100, max_delay: 1_000 },
      tls: { ca: '', cert: '', key: '', passphrase: '' },
    },
    connectionName: identity,
    logger,
    status,
    setup: () => Promise.resolve(),
  });
  const config: Pick<PingerConfig, 'pinger' | 'canary' | 'history'> = {
    pinger: { interval: INTERVAL },
    canary: { families: [], timeout: 5_000 },
    history: { retention },
  };
  const pinger = new Pinger({ database, redis, amqp, logger, identity, config });
  pingers.push(pinger);
  return pinger;
}

async function summary(client: RedisClient): Promise<PingerSummary | undefined> {
  const text = await client.pingerSummary.read();
  return text === undefined ? undefined : (JSON.parse(text) as PingerSummary);
}

async function historyBy(): Promise<Record<string, number>> {
  const { rows } = await database.pool.query<{ pinger: string; n: number }>(
    'SELECT pinger, count(*)::int AS n FROM pinger_history GROUP BY pinger',
  );
  return Object.fromEntries(rows.map((r) => [r.pinger, r.n]));
}

beforeAll(async () => {
  dbName = await createTestDatabase('cmq_pinger');
  database = new Database(dbConfig(dbName), logger, new StatusBoard(), 'cmq-test-pinger');
  await migrate(database.pool);
  await database.start(abort.signal);
});

beforeEach(async () => {
  await database.pool.query('TRUNCATE pinger_history');
  await raw.del(PINGER_LEASE_KEY, PINGER_SUMMARY_KEY);
});

afterEach(async () => {
  await Promise.all(pingers.splice(0).map((p) => p.close()));
  await Promise.all(redisClients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  abort.abort();
  raw.disconnect();
  await database.close();
  await dropTestDatabase(dbName);
});

describe('Pinger', () => {
  it('one of two pingers holds the lease and writes; the other stands by until the holder stops or vanishes', async () => {
    const one = await makePinger('pinger:one@test:1');
    const two = await makePinger('pinger:two@test:2');
    for (let i = 0; i < 3; i += 1) {
      await one.tick();
      await two.tick();
    }
    expect([one.holder, two.holder]).toEqual([true, false]);
    expect(await historyBy()).toEqual({ 'pinger:one@test:1': 3 });
    const s = await summary(redisClients[0] as RedisClient);
    expect(s?.pinger).toBe('pinger:one@test:1');
    expect(s?.dependencies.postgres.ok).toBe(true);
    expect(s?.dependencies.redis.ok).toBe(true);
    expect(s?.dependencies.rabbitmq).toMatchObject({
      ok: false,
      error: expect.stringContaining('not connected') as unknown,
    });
    expect(s?.families.control).toMatchObject({
      consumers: expect.any(Number) as unknown,
      backlog: 0,
      broker_depth: null,
      canary: { state: 'none' },
    });
    expect(await raw.pttl(PINGER_LEASE_KEY)).toBeLessThanOrEqual(2 * INTERVAL);

    // A graceful stop releases the lease: the standby takes over at its next tick.
    await one.close();
    await two.tick();
    expect(two.holder).toBe(true);
    expect((await summary(redisClients[1] as RedisClient))?.pinger).toBe('pinger:two@test:2');

    // A holder that stops renewing (frozen, dead) loses the lease after 2 intervals.
    const three = await makePinger('pinger:three@test:3');
    await three.tick();
    expect(three.holder).toBe(false);
    await waitFor(async () => (await raw.exists(PINGER_LEASE_KEY)) === 0, 2 * INTERVAL + 1_000, 'the lease to expire');
    await three.tick();
    expect(three.holder).toBe(true);
    await two.tick();
    expect(two.holder).toBe(false);
    expect(await historyBy()).toEqual({ 'pinger:one@test:1': 3, 'pinger:two@test:2': 1, 'pinger:three@test:3': 1 });
  });

  it('deletes history rows older than history.retention', async () => {
    await database.pool.query(
      `INSERT INTO pinger_history (at, pinger, summary) VALUES
         (now() - interval '8 days', 'old', '{}'), (now() - interval '25 hours', 'old', '{}'), (now() - interval '1 hour', 'recent', '{}')`,
    );
    const pinger = await makePinger('pinger:keeper@test:4', 24 * 3_600_000);
    await pinger.tick();
    expect(await historyBy()).toEqual({ recent: 1, 'pinger:keeper@test:4': 1 });
  });
});

describe("Pinger and the heartbeats' waiting field", () => {
  it("a heartbeat carries its status board's summary; the pinger lists each live process that waits, and drops it once it waits no more", async () => {
    const client = new RedisClient(redisConfig, logger, new StatusBoard(), 'cmq-test-heartbeat');
    await client.start(abort.signal);
    redisClients.push(client);
    const stats = (): HeartbeatStats => ({ queues: ['control'], inFlight: 0, processed: 0, failed: 0 });
    // Wired as buildService wires it: the board the adapters report to.
    const board = new StatusBoard();
    const blocked = new Heartbeat({
      service: 'publisher',
      name: 'blocked',
      version: '0.1.0',
      intervalMs: 200,
      redis: client,
      logger,
      stats,
      waiting: () => board.summary(),
    });
    const calm = new Heartbeat({
      service: 'subscriber',
      name: 'calm',
      version: '0.1.0',
      intervalMs: 200,
      redis: client,
      logger,
      stats,
    });
    const key = heartbeatKey('publisher', 'blocked', hostname(), process.pid);
    const calmKey = heartbeatKey('subscriber', 'calm', hostname(), process.pid);
    board.set('amqp-flow', 'broker blocked publishing: low on memory');
    board.set('amqp', 'waiting for broker at amqp://guest:s3cret@127.0.0.1:5672 (connection lost: socket closed)');
    const expected =
      'broker blocked publishing: low on memory; waiting for broker at amqp://127.0.0.1:5672 (connection lost: socket closed)';
    await Promise.all([blocked.start(), calm.start()]);
    try {
      await waitFor(async () => (await raw.exists(key, calmKey)) === 2, 5_000, 'both heartbeats');
      expect(await raw.hget(key, 'waiting')).toBe(expected);
      expect(await raw.hget(calmKey, 'waiting')).toBe('');
      const pinger = await makePinger('pinger:waits@test:5');
      await pinger.tick();
      const s = await summary(client);
      expect(s?.waiting).toEqual([
        { service: 'publisher', name: 'blocked', host: hostname(), pid: process.pid, waiting: expected },
      ]);
      expect(s?.families.control.consumers).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(s)).not.toContain('s3cret');

      board.set('amqp-flow', undefined);
      board.set('amqp', undefined);
      await waitFor(async () => (await raw.hget(key, 'waiting')) === '', 5_000, 'a heartbeat waiting for nothing');
      await pinger.tick();
      expect((await summary(client))?.waiting).toEqual([]);
    } finally {
      await Promise.all([blocked.close(), calm.close()]);
    }
  });
});

describe("the pinger's reaper (Recovery with the heartbeat probe)", () => {
  async function busyWorker(pid: number): Promise<{ workerId: string; actionId: string }> {
    const w = await database.pool.query<{ id: string }>(
      "INSERT INTO workers (service, name, host, pid) VALUES ('subscriber', 'r', 'test', $1) RETURNING id::text",
      [pid],
    );
    const workerId = (w.rows[0] as { id: string }).id;
    const a = await database.pool.query<{ id: string }>(
      "INSERT INTO actions (tenant_id, type, family, state, attempts, worker_id, worker) VALUES ('cmq-canary', 'noop', 'control', 'running', 1, $1, $2) RETURNING id::text",
      [workerId, `subscriber:r@test:${pid}`],
    );
    return { workerId, actionId: (a.rows[0] as { id: string }).id };
  }

  async function stateOf(id: string): Promise<{ state: string; worker_id: string | null }> {
    const { rows } = await database.pool.query<{ state: string; worker_id: string | null }>(
      'SELECT state, worker_id::text FROM actions WHERE id = $1',
      [id],
    );
    return rows[0] as { state: string; worker_id: string | null };
  }

  async function reaperOn(port: number, db = REDIS_DB): Promise<{ reaper: Recovery; redis: RedisClient }> {
    const redis = new RedisClient({ ...redisConfig, port, db }, logger, new StatusBoard(), 'cmq-test-reaper');
    redisClients.push(redis);
    await redis.start(abort.signal);
    const reaper = new Recovery({
      sql: database.sql,
      logger,
      actor: 'pinger:test',
      heartbeats: { graceMs: 1_000, probe: heartbeatProbe(redis) },
    });
    return { reaper, redis };
  }

  it('reaps a worker only after its heartbeat has been missing one full interval; leaves a live one alone', async () => {
    const { reaper } = await reaperOn(6379);
    const dead = await busyWorker(900_001);
    const live = await busyWorker(900_002);
    await raw.set('cmq:heartbeat:subscriber:r:test:900002', 'x', 'PX', 10_000);
    const t0 = Date.now();
    expect(await reaper.recoverFrozen(t0)).toBe(0);
    expect(await reaper.recoverFrozen(t0 + 500)).toBe(0);
    expect((await stateOf(dead.actionId)).state).toBe('running');
    expect(await reaper.recoverFrozen(t0 + 1_000)).toBe(1);
    expect(await stateOf(dead.actionId)).toEqual({ state: 'pending', worker_id: null });
    expect(await stateOf(live.actionId)).toEqual({ state: 'running', worker_id: live.workerId });
    const ev = await database.pool.query<{ reason: string; actor: string }>(
      "SELECT reason, actor FROM action_events WHERE action_id = $1 AND to_state = 'pending'",
      [dead.actionId],
    );
    expect(ev.rows).toEqual([
      { reason: 'reaped: worker subscriber:r@test:900001 stopped heartbeating', actor: 'pinger:test' },
    ]);
    await database.pool.query("UPDATE actions SET state = 'succeeded' WHERE id = $1", [live.actionId]);
  });

  it('reaps nothing while Redis does not answer, and starts the grace period over when it is back', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const { reaper, redis } = await reaperOn(server.port, 0);
    try {
      const { actionId } = await busyWorker(900_003);
      const t0 = Date.now();
      expect(await reaper.recoverFrozen(t0)).toBe(0);
      await server.kill();
      await expect(reaper.recoverFrozen(t0 + 5_000)).rejects.toThrow();
      expect((await stateOf(actionId)).state).toBe('running');
      await server.start();
      await waitForReady(reaper, t0 + 6_000);
      expect((await stateOf(actionId)).state).toBe('running');
      expect(await reaper.recoverFrozen(t0 + 7_000)).toBe(1);
      expect((await stateOf(actionId)).state).toBe('pending');
    } finally {
      await redis.close();
      await server.kill();
    }
  });
});

/** Ticks until Redis answers again (the first answered tick only starts the grace period). */
async function waitForReady(reaper: Recovery, now: number): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    try {
      expect(await reaper.recoverFrozen(now)).toBe(0);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('redis did not come back');
}
