import { Redis } from 'ioredis';
import { countActions } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { PrivateBroker } from '../helpers/private-broker';
import { waitFor } from '../helpers/wait';

// DESIGN.md invariant 1 across the broker itself: kill -9 of RabbitMQ in the middle of the
// work, then a graceful restart of it. Actions in the relay's unconfirmed batches, in the queue,
// delivered and unacked, or running when the broker goes: each must end `succeeded`, its handler
// run to completion at least once and its outcome committed exactly once. On a RabbitMQ node of
// the test's own (the suite's other files share the main one).

const TOTAL = 4_000;
const REDIS_DB = 5;
const tenants = ['r1', 'r2', 'r3'];
let broker: PrivateBroker;
let p: Pipeline;
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
redis.on('error', () => undefined);

beforeAll(async () => {
  broker = await PrivateBroker.start('cmq-restart', 5674);
  p = await Pipeline.create({
    config: {
      'mq.cfg': { 'amqp.urls': broker.url, 'amqp.vhost': '/', 'amqp.connect_timeout': '3s' },
      'persistence.properties': { 'redis.db': REDIS_DB },
      'publisher.properties': { 'relay.confirm_timeout': '5s' },
      'subscriber.properties': {
        concurrency: 8,
        prefetch: 64,
        'retry.initial_delay': '100ms',
        'retry.max_delay': '1s',
      },
    },
  });
  await p.addTenants(...tenants);
  await redis.connect();
  await redis.del(...tenants.map((t) => `cmq:noop:runs:${t}`));
}, 150_000);

afterAll(async () => {
  redis.disconnect();
  try {
    await p?.destroy();
  } finally {
    await broker?.stop();
  }
}, 60_000);

async function whenProgress(fraction: number): Promise<number> {
  let n = 0;
  await waitFor(
    async () => (n = await countActions(p.pool, { state: 'succeeded' })) >= TOTAL * fraction,
    120_000,
    `${fraction * 100} % succeeded`,
  );
  return n;
}

it('every action succeeds, each outcome committed once, across kill -9 of the broker mid-work and a graceful broker restart', async () => {
  const requests = Array.from({ length: TOTAL }, (_, i) => ({
    type: 'noop',
    tenant: tenants[i % 3] as string,
    args: { count: true, sleep_ms: 20 },
  }));
  const ids = await p.submit(requests);
  await p.startPublisherAndSubscriber();

  expect(await whenProgress(0.2)).toBeLessThan(TOTAL);
  await broker.kill();
  const atCrash = await p.states();
  // Work was under way when the broker died: queued or running actions, and due ones behind them.
  expect((atCrash.queued ?? 0) + (atCrash.running ?? 0)).toBeGreaterThan(0);
  // A fixed outage on purpose: the broker stays dead for a while, as after a real crash.
  await new Promise((r) => setTimeout(r, 2_000));
  await broker.boot();

  expect(await whenProgress(0.5)).toBeLessThan(TOTAL);
  await broker.stopApp();
  const atStop = await p.states();
  // stop_app takes a second or more, and the pipeline works on until the broker closes its
  // connections; the remaining half takes at least 2,000 × 20 ms / 8 = 5 s, so work is
  // outstanding (queued, or running when the connections closed) when the broker goes.
  expect((atStop.queued ?? 0) + (atStop.running ?? 0)).toBeGreaterThan(0);
  await broker.startApp();

  await p.allFinal(180_000);
  expect(await p.states()).toEqual({ succeeded: TOTAL });
  for (const proc of p.processes) expect(proc.alive()).toBe(true);

  // Each handler ran to completion at least once, and its outcome was committed exactly once.
  expect(await p.onceEach(redis, tenants, ids)).toEqual({ neverRan: [], notCommittedOnce: [] });
}, 300_000);
