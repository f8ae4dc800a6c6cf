import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { writeConfig } from '../helpers/config-dir';
import { parseNagios } from '../helpers/nagios';
import { RedisServer, freePort } from '../helpers/private-servers';
import { runCmq } from '../helpers/process';

/**
 * `cmq check` against a private redis-server (the summary key is a global name, and other test
 * files run pingers on the shared server): the test writes the pinger summary and the
 * heartbeats itself, and finally kills the server.
 */
let server: RedisServer;
let redis: Redis;
let dir: string;
const FAMILIES = ['provision', 'monitor', 'guest', 'control'] as const;

beforeAll(async () => {
  server = new RedisServer(await freePort());
  await server.start();
  redis = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
  redis.on('error', () => undefined);
  await redis.connect();
  dir = writeConfig({
    'persistence.properties': { 'redis.port': server.port },
    'worker.properties': { 'db.database': 'postgres' },
  });
});

afterAll(async () => {
  if (redis.status !== 'end') redis.disconnect();
  await server.kill();
});

beforeEach(async () => {
  await redis.flushall();
});

type Canary = { state: string; latency_ms: number | null; sent_at: string | null };

async function writeSummary(
  opts: {
    ageMs?: number;
    canaries?: Partial<Record<string, Canary>>;
    oldest?: Partial<Record<string, number>>;
    rabbitmq?: { ok: boolean; ms: number; error?: string };
  } = {},
): Promise<void> {
  const at = new Date(Date.now() - (opts.ageMs ?? 0)).toISOString();
  const families = Object.fromEntries(
    FAMILIES.map((f) => [
      f,
      {
        consumers: 1,
        backlog: 3,
        queued: 1,
        running: 0,
        oldest_age_s: opts.oldest?.[f] ?? 1.5,
        broker_depth: 0,
        canary: opts.canaries?.[f] ?? { state: 'ok', latency_ms: 12, sent_at: at },
      },
    ]),
  );
  const summary = {
    at,
    pinger: `pinger:main@${hostname()}:1`,
    interval_ms: 10_000,
    dependencies: {
      postgres: { ok: true, ms: 1 },
      redis: { ok: true, ms: 1 },
      rabbitmq: opts.rabbitmq ?? { ok: true, ms: 2 },
    },
    families,
    dead_last_interval: 4,
    reaped_last_interval: 0,
  };
  await redis.set('cmq:pinger:summary', JSON.stringify(summary));
}

async function beat(service: string, name: string, pid: number, queues: readonly string[]): Promise<void> {
  const key = `cmq:heartbeat:${service}:${name}:${hostname()}:${pid}`;
  const now = new Date().toISOString();
  await redis.hset(key, {
    service,
    name,
    host: hostname(),
    pid: String(pid),
    version: '0.1.0',
    started_at: now,
    at: now,
    queues: queues.join(','),
    in_flight: '0',
    processed: '5',
    failed: '0',
    rss: '1000',
    interval_ms: '2000',
    loop_lag_ms: '1',
  });
  await redis.pexpire(key, 60_000);
}

async function check(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCmq(['check', '--config-dir', dir, ...args]);
}

it('OK (exit 0) with a fresh summary and a live subscriber for every family; perfdata per family', async () => {
  await writeSummary();
  await beat('subscriber', 'a', 101, ['provision', 'monitor']);
  await beat('subscriber', 'b', 102, ['guest', 'control', 'monitor']);
  await beat('publisher', 'main', 103, []);
  const res = await check();
  expect(res).toMatchObject({ code: 0, stderr: '' });
  const out = parseNagios(res.stdout);
  expect(out.word).toBe('OK');
  expect(out.text).toContain('provision 1, monitor 2, guest 1, control 1');
  expect(res.stdout).toContain('canary_control=0.012s;2;10;0; ');
  expect(out.perf.subscribers_monitor).toEqual({ value: '2', uom: '', warn: '', crit: '1:', min: '0', max: '' });
  expect(out.perf.backlog_guest?.value).toBe('3');
  expect(out.perf.oldest_provision).toMatchObject({ value: '2', uom: 's', warn: '60', crit: '300' });
  expect(out.perf.dead?.value).toBe('4');
  expect(Object.keys(out.perf)).toHaveLength(4 * 4 + 1);
});

it('CRITICAL (exit 2) naming a family no live subscriber consumes; --families limits the check', async () => {
  await writeSummary();
  await beat('subscriber', 'a', 101, ['monitor', 'guest', 'control']);
  const res = await check();
  expect(res.code).toBe(2);
  const out = parseNagios(res.stdout);
  expect(out).toMatchObject({ word: 'CRITICAL', text: 'no live subscriber consumes provision' });
  expect(out.perf.subscribers_provision?.value).toBe('0');
  const limited = await check('--families', 'monitor,control');
  expect(limited.code).toBe(0);
  expect(Object.keys(parseNagios(limited.stdout).perf)).toEqual([
    'canary_monitor',
    'backlog_monitor',
    'oldest_monitor',
    'subscribers_monitor',
    'canary_control',
    'backlog_control',
    'oldest_control',
    'subscribers_control',
    'dead',
  ]);
});

it('CRITICAL when the summary is stale or missing (no pinger), a canary is lost, a dependency is down, PostgreSQL is unreachable; UNKNOWN when it is corrupt', async () => {
  await beat('subscriber', 'a', 101, [...FAMILIES]);
  const missing = await check();
  expect(missing.code).toBe(2);
  expect(parseNagios(missing.stdout).text).toBe('no pinger summary in redis: is a pinger running?');
  await writeSummary({ ageMs: 60_000 });
  const stale = await check();
  expect(stale.code).toBe(2);
  expect(parseNagios(stale.stdout).text).toMatch(
    /^pinger summary is 6\ds old \(check\.summary_max_age 30s\): is the pinger running\?$/,
  );
  await writeSummary({
    canaries: { guest: { state: 'lost', latency_ms: null, sent_at: null } },
    rabbitmq: { ok: false, ms: 3000, error: 'connect ECONNREFUSED 127.0.0.1:5672' },
  });
  const lost = parseNagios((await check()).stdout);
  expect(lost.word).toBe('CRITICAL');
  expect(lost.text).toContain('rabbitmq down (pinger pinger:main@');
  expect(lost.text).toContain('canary lost on guest');
  expect(lost.perf.canary_guest?.value).toBe('U');
  await redis.set('cmq:pinger:summary', '{"at":');
  const corrupt = await check();
  expect(corrupt.code).toBe(3);
  expect(parseNagios(corrupt.stdout).text).toMatch(
    /^the pinger summary in redis \(cmq:pinger:summary\) cannot be read: /,
  );
  const noPg = writeConfig({
    'persistence.properties': { 'redis.port': server.port },
    'worker.properties': { 'db.port': await freePort() },
  });
  await writeSummary();
  const pg = await runCmq(['check', '--config-dir', noPg]);
  expect(pg.code).toBe(2);
  expect(parseNagios(pg.stdout).text).toMatch(/^PostgreSQL unreachable: 127\.0\.0\.1:\d+\/cmq: .*ECONNREFUSED/);
});

it('WARNING (exit 1) for a slow canary or an old waiting action; --warning/--critical override the canary thresholds', async () => {
  await beat('subscriber', 'a', 101, [...FAMILIES]);
  await writeSummary({ canaries: { control: { state: 'ok', latency_ms: 3_500, sent_at: null } } });
  const slow = await check();
  expect(slow.code).toBe(1);
  expect(parseNagios(slow.stdout)).toMatchObject({ word: 'WARNING', text: 'canary control 3.5s (warning 2s)' });
  expect(parseNagios(slow.stdout).perf.canary_control).toMatchObject({ value: '3.5', uom: 's', warn: '2', crit: '10' });
  const relaxed = await check('--warning', '5', '--critical', '20');
  expect(relaxed.code).toBe(0);
  expect(parseNagios(relaxed.stdout).perf.canary_control).toMatchObject({ warn: '5', crit: '20' });
  const strict = await check('--warning', '1', '--critical', '3');
  expect(strict.code).toBe(2);
  expect(parseNagios(strict.stdout).text).toBe('canary control 3.5s (critical 3s)');
  await writeSummary({ oldest: { monitor: 90 } });
  expect(parseNagios((await check()).stdout).text).toBe('oldest monitor action waiting 90s (warning 60s)');
  const bad = await check('--warning', '9', '--critical', '3');
  expect(bad.code).toBe(3);
  expect(parseNagios(bad.stdout).word).toBe('UNKNOWN');
});

it('UNKNOWN (exit 3) with the reason and no stack trace when Redis is gone, within the connect timeout', async () => {
  await redis.quit(); // before the server goes: a client left reconnecting keeps a timer
  await server.kill();
  const started = Date.now();
  const res = await check();
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(res.code).toBe(3);
  expect(res.stdout).toBe(
    `CMQ UNKNOWN - cannot read state from redis at 127.0.0.1:${server.port}: connect ECONNREFUSED 127.0.0.1:${server.port}\n`,
  );
  expect(res.stderr).toBe('');
  parseNagios(res.stdout);
});
