import { hostname } from 'node:os';
import type { PingerSummary } from '@cmq/actions';
import { Redis } from 'ioredis';
import { countEvents } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

// A Redis database of its own: heartbeats and the pinger summary are global names, and other
// test files run their own processes on the shared server at the same time.
const REDIS_DB = 11;

let pipe: Pipeline;
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
redis.on('error', () => undefined);

beforeAll(async () => {
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': REDIS_DB },
      'subscriber.properties': { queues: 'control' },
      'pinger.properties': { 'pinger.interval': '1s', 'canary.timeout': '3s', 'check.summary_max_age': '3s' },
    },
  });
  await redis.connect();
  await redis.del('cmq:pinger:summary', 'cmq:pinger:lease');
});

afterAll(async () => {
  await pipe.destroy();
  redis.disconnect();
});

async function summary(): Promise<PingerSummary | undefined> {
  const text = await redis.get('cmq:pinger:summary');
  return text === null ? undefined : (JSON.parse(text) as PingerSummary);
}

it('the pinger writes a summary: canary latency for a consumed family, lost for one nobody consumes, consumers, dependencies, history rows', async () => {
  pipe.start('publisher');
  const subscriber = pipe.start('subscriber');
  const pinger = pipe.start('pinger');
  await Promise.all([
    pipe.running('publisher', 'main'),
    pipe.running('subscriber', 'default'),
    pipe.running('pinger', 'main'),
  ]);

  await waitFor(async () => (await summary())?.families.control.canary.state === 'ok', 20_000, 'the control canary ok');
  const s = (await summary()) as PingerSummary;
  expect(s.pinger).toBe(`pinger:main@${hostname()}:${pinger.pid}`);
  expect(s.interval_ms).toBe(1_000);
  expect(Date.now() - Date.parse(s.at)).toBeLessThan(3_000);
  expect(s.dependencies.postgres.ok && s.dependencies.redis.ok && s.dependencies.rabbitmq.ok).toBe(true);
  expect(typeof s.families.control.canary.latency_ms).toBe('number');
  expect(s.families.control.canary.latency_ms).toBeGreaterThan(0);
  expect(s.families.control.canary.latency_ms).toBeLessThanOrEqual(3_000); // canary.timeout: an ok canary is one within it
  expect(s.families.control.consumers).toBe(1);
  expect(s.families.provision.consumers).toBe(0);
  expect(s.families.provision.canary.state).toBe('pending');
  expect(s.families.control.broker_depth).toBe(0);
  expect(s.dead_last_interval).toBe(0);
  expect(s.reaped_last_interval).toBe(0);
  const ttl = await redis.pttl('cmq:pinger:summary');
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(3_000);

  // No subscriber consumes provision: its canary waits in the queue until canary.timeout, is
  // then reported lost and cancelled; the queue shows the message.
  await waitFor(
    async () => (await summary())?.families.provision.canary.state === 'lost',
    10_000,
    'the provision canary lost',
  );
  const lost = (await summary()) as PingerSummary;
  expect(lost.families.provision.canary.latency_ms).toBeNull();
  expect(lost.families.provision.broker_depth).toBeGreaterThanOrEqual(1);
  // Control's canaries still come back meanwhile: a later one than the first read's is ok (the
  // state of the moment may be pending: a newer canary in flight, the last latency kept).
  const firstOk = s.families.control.canary.sent_at;
  await waitFor(
    async () => {
      const c = (await summary())?.families.control.canary;
      return c?.state === 'ok' && c.sent_at !== firstOk;
    },
    5_000,
    'a later control canary ok',
  );
  const lostCanaries = { tenant: 'cmq-canary', family: 'provision', state: 'cancelled' };
  expect(await countEvents(pipe.pool, { reason: 'canary lost%', of: lostCanaries })).toBeGreaterThanOrEqual(1);

  // A tick writes its summary to Redis before its history row.
  const history = async (): Promise<{ n: number; pinger: string } | undefined> =>
    (
      await pipe.pool.query<{ n: number; pinger: string }>(
        'SELECT count(*)::int AS n, max(pinger) AS pinger FROM pinger_history',
      )
    ).rows[0];
  await waitFor(async () => ((await history())?.n ?? 0) >= 3, 5_000, 'three summaries in pinger_history');
  expect((await history())?.pinger).toBe(s.pinger);

  // Heartbeats carry their interval and the event loop's lag.
  const beat = await redis.hgetall(`cmq:heartbeat:subscriber:default:${hostname()}:${subscriber.pid}`);
  expect(beat.interval_ms).toBe('1000');
  expect(Number(beat.loop_lag_ms)).toBeGreaterThanOrEqual(0);
  expect(beat.queues).toBe('control');

  // A graceful stop gives the lease up.
  pinger.kill('SIGTERM');
  expect(await pinger.exitCode(10_000)).toBe(0);
  expect(await redis.get('cmq:pinger:lease')).toBeNull();
}, 60_000);
