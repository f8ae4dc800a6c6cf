import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino from 'pino';
import { Heartbeat, type HeartbeatStats, type RedisConfig, RedisClient, StatusBoard } from '@cmq/common';
import { Redis } from 'ioredis';
import { RedisServer, freePort } from '../helpers/private-servers';
import { waitFor } from '../helpers/wait';

const logger = pino({ level: 'silent' });

function redisConfig(port: number): RedisConfig['redis'] {
  return {
    mode: 'standalone',
    host: '127.0.0.1',
    port,
    password: '',
    db: 0,
    sentinels: [],
    sentinel: { master_name: 'mymaster' },
    connect_timeout: 2_000,
  };
}

const clients: RedisClient[] = [];
const servers: RedisServer[] = [];
const observers: Redis[] = [];

/** A plain connection of the test's own, to look at what the client wrote (and to write around it). */
function observer(port: number): Redis {
  const raw = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  raw.on('error', () => undefined);
  observers.push(raw);
  return raw;
}

function makeClient(port: number): { client: RedisClient; status: StatusBoard; statuses: string[] } {
  const status = new StatusBoard();
  const statuses: string[] = [];
  status.onChange(() => statuses.push(status.summary()));
  const client = new RedisClient(redisConfig(port), logger, status, `cmq-test-redis-${randomBytes(4).toString('hex')}`);
  clients.push(client);
  return { client, status, statuses };
}

async function privateServer(): Promise<RedisServer> {
  const server = new RedisServer(await freePort());
  servers.push(server);
  await server.start();
  return server;
}

afterEach(async () => {
  observers.splice(0).forEach((raw) => raw.disconnect());
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});

describe('RedisClient', () => {
  it('start resolves once ready; commands work; close is idempotent', async () => {
    const { client, status } = makeClient(6379);
    await client.start(new AbortController().signal);
    expect(client.ready).toBe(true);
    expect(status.summary()).toBe('');
    const id = { service: `redistest${randomBytes(4).toString('hex')}`, name: 'one', host: 'test', pid: 1 };
    await client.heartbeats.write(id, { service: id.service }, 10_000);
    expect(await client.heartbeats.exist([id])).toEqual([true]);
    await client.heartbeats.remove(id);
    expect(await client.heartbeats.exist([id])).toEqual([false]);
    await client.close();
    await client.close();
    await waitFor(() => client.connectionStatus === 'end', 5_000, 'the connection to end');
    expect(client.ready).toBe(false);
    expect(status.summary()).toBe('');
  });

  it('heartbeats.readAll finds every heartbeat across many SCAN pages, each once, and nothing else', async () => {
    const server = await privateServer();
    const { client } = makeClient(server.port);
    await client.start(new AbortController().signal);
    expect(await client.heartbeats.readAll()).toEqual([]);
    const pipeline = observer(server.port).pipeline();
    for (let i = 0; i < 1_234; i++) pipeline.hset(`cmq:heartbeat:subscriber:n${i}`, 'at', String(i));
    for (let i = 0; i < 300; i++) pipeline.hset(`cmq:other:n${i}`, 'at', '1');
    // Not a hash: left out, not an error.
    pipeline.set('cmq:heartbeat:subscriber:broken', '1');
    await pipeline.exec();
    const beats = await client.heartbeats.readAll();
    expect(beats).toHaveLength(1_234);
    expect(new Set(beats.map((b) => b.key)).size).toBe(1_234);
    expect(beats.every((b) => b.key === `cmq:heartbeat:subscriber:n${b.fields.at}`)).toBe(true);
  });

  it('while redis is down: says so, fails commands at once, and recovers when it is back', async () => {
    const server = await privateServer();
    const { client, status } = makeClient(server.port);
    await client.start(new AbortController().signal);
    expect(status.summary()).toBe('');

    await server.kill();
    await waitFor(
      () => status.summary().startsWith(`waiting for redis at 127.0.0.1:${server.port} (`),
      10_000,
      'the waiting status',
    );
    expect(client.ready).toBe(false);
    // No offline queue: the command is refused now, not parked until Redis returns.
    const t0 = Date.now();
    await expect(client.heartbeats.readAll()).rejects.toThrow(/enableOfflineQueue/);
    expect(Date.now() - t0).toBeLessThan(500);

    await server.start();
    await waitFor(() => client.ready, 15_000, 'the client to be ready again');
    expect(status.summary()).toBe('');
    expect(await client.heartbeats.readAll()).toEqual([]);
  });

  it('start keeps retrying while nothing listens and resolves by itself once redis starts', async () => {
    const server = new RedisServer(await freePort());
    servers.push(server);
    const { client, status } = makeClient(server.port);
    let started = false;
    const starting = client.start(new AbortController().signal).then(() => (started = true));
    await waitFor(
      () => status.summary().startsWith(`waiting for redis at 127.0.0.1:${server.port} (`),
      10_000,
      'the waiting status',
    );
    expect(started).toBe(false);
    await server.start();
    await starting;
    expect(client.ready).toBe(true);
    expect(status.summary()).toBe('');
  });

  it('start returns when its signal aborts while redis is unreachable', async () => {
    const { client, status } = makeClient(await freePort());
    const abort = new AbortController();
    const starting = client.start(abort.signal);
    await waitFor(() => status.summary() !== '', 10_000, 'the waiting status');
    abort.abort();
    await expect(starting).resolves.toBeUndefined();
    expect(client.ready).toBe(false);
    await client.close();
    expect(status.summary()).toBe('');
  });
});

describe('Heartbeat', () => {
  it('writes its hash with a TTL of at most 3 intervals, refreshes it every interval, deletes it on close', async () => {
    const intervalMs = 300;
    const { client } = makeClient(6379);
    const raw = observer(6379);
    await client.start(new AbortController().signal);
    const service = `hbtest${randomBytes(3).toString('hex')}`;
    let ticks = 0;
    const at: number[] = [];
    const stats = (): HeartbeatStats => {
      ticks += 1;
      at.push(Date.now());
      return { queues: ['cmq.control', 'cmq.guest'], inFlight: 2, processed: ticks * 10, failed: 1 };
    };
    const heartbeat = new Heartbeat({
      service,
      name: 'one',
      version: '9.8.7',
      intervalMs,
      redis: client,
      logger,
      stats,
    });
    const key = `cmq:heartbeat:${service}:one:${hostname()}:${process.pid}`;
    await heartbeat.start();
    try {
      await waitFor(async () => (await raw.exists(key)) === 1, 5_000, `key ${key}`);
      const fields = await raw.hgetall(key);
      expect(fields).toMatchObject({
        service,
        name: 'one',
        pid: String(process.pid),
        version: '9.8.7',
        queues: 'cmq.control,cmq.guest',
        in_flight: '2',
        failed: '1',
      });
      expect(Number(fields.processed)).toBeGreaterThan(0);
      expect(Number(fields.rss)).toBeGreaterThan(1_000_000);
      const ttl = await raw.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3 * intervalMs);

      // Refreshed: new values arrive, and the key outlives its first TTL.
      const first = Number(fields.processed);
      await waitFor(async () => Number(await raw.hget(key, 'processed')) > first, 3_000, 'a refreshed heartbeat');
      // A fixed wait on purpose: past its first TTL (3 intervals) the key must still be there.
      await new Promise((r) => setTimeout(r, 4 * intervalMs));
      expect(await raw.exists(key)).toBe(1);
      // Every interval: the median gap between writes (a late timer on a loaded machine moves one, not the median).
      await waitFor(() => Promise.resolve(ticks >= 5), 3_000, 'five heartbeats');
      const gaps = at
        .slice(1)
        .map((t, i) => t - (at[i] as number))
        .sort((x, y) => x - y);
      expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThanOrEqual(1.5 * intervalMs);
    } finally {
      await heartbeat.close();
    }
    expect(await raw.exists(key)).toBe(0);
    // And nothing writes it again after close.
    const ticksAtClose = ticks;
    // A fixed wait on purpose: two intervals in which nothing may be written.
    await new Promise((r) => setTimeout(r, 2 * intervalMs));
    expect(await raw.exists(key)).toBe(0);
    expect(ticks).toBe(ticksAtClose);
  });

  it('refresh() writes the state and what is waited for at once, between beats; nothing after close', async () => {
    const { client } = makeClient(6379);
    const raw = observer(6379);
    await client.start(new AbortController().signal);
    const service = `hbtest${randomBytes(3).toString('hex')}`;
    let state = 'starting';
    let waiting = 'waiting for broker at amqp://user:secret@mq1:5672 (connect ECONNREFUSED)';
    const stats = (): HeartbeatStats => ({ queues: ['control'], inFlight: 0, processed: 0, failed: 0 });
    // An interval far longer than the test: every write after the first is a refresh.
    const heartbeat = new Heartbeat({
      service,
      name: 'one',
      version: '1',
      intervalMs: 600_000,
      redis: client,
      logger,
      stats,
      state: () => state,
      waiting: () => waiting,
    });
    const key = `cmq:heartbeat:${service}:one:${hostname()}:${process.pid}`;
    heartbeat.refresh(); // before start: nothing
    // A fixed wait on purpose: nothing may be written in that time.
    await new Promise((r) => setTimeout(r, 100));
    expect(await raw.exists(key)).toBe(0);
    await heartbeat.start();
    try {
      await waitFor(async () => (await raw.hget(key, 'state')) === 'starting', 5_000, 'the first beat');
      expect(await raw.hget(key, 'waiting')).toBe('waiting for broker at amqp://mq1:5672 (connect ECONNREFUSED)');
      [state, waiting] = ['running', ''];
      heartbeat.refresh();
      await waitFor(async () => (await raw.hget(key, 'state')) === 'running', 2_000, 'the refreshed state');
      expect(await raw.hget(key, 'waiting')).toBe('');
    } finally {
      await heartbeat.close();
    }
    state = 'stopped';
    heartbeat.refresh();
    // A fixed wait on purpose: nothing may be written after close.
    await new Promise((r) => setTimeout(r, 200));
    expect(await raw.exists(key)).toBe(0);
  });

  it('keeps beating through a redis outage and writes the hash again once redis is back', async () => {
    const server = await privateServer();
    const { client } = makeClient(server.port);
    const raw = observer(server.port);
    await client.start(new AbortController().signal);
    const service = `hbtest${randomBytes(3).toString('hex')}`;
    let ticks = 0;
    const at: number[] = [];
    const stats = (): HeartbeatStats => {
      ticks += 1;
      at.push(Date.now());
      return { queues: [], inFlight: 0, processed: 0, failed: 0 };
    };
    const heartbeat = new Heartbeat({
      service,
      name: 'one',
      version: '1.0.0',
      intervalMs: 200,
      redis: client,
      logger,
      stats,
    });
    const key = `cmq:heartbeat:${service}:one:${hostname()}:${process.pid}`;
    await heartbeat.start();
    try {
      await waitFor(async () => (await raw.exists(key)) === 1, 5_000, `key ${key}`);
      await server.kill();
      const ticksAtKill = ticks;
      await waitFor(() => ticks >= ticksAtKill + 2, 5_000, 'heartbeats while redis is down');
      // A fresh, empty server: only a beat after the outage can have written the key.
      await server.start();
      await waitFor(() => client.ready, 15_000, 'the client to be ready again');
      await waitFor(async () => (await raw.exists(key)) === 1, 5_000, `key ${key} written again`);
    } finally {
      await heartbeat.close();
    }
    expect(await raw.exists(key)).toBe(0);
  });
});
