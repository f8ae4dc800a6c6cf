import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { countActions, countEvents } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { tempDir } from '../helpers/config-dir';
import { PgCluster, RedisServer, freePort } from '../helpers/private-servers';
import { closeBrokerConnections } from '../helpers/services';
import { waitFor } from '../helpers/wait';

const TOTAL = 10_000;
let cluster: PgCluster;
let redisServer: RedisServer;
let pipe: Pipeline;
let redis: Redis;
const suffix = randomBytes(3).toString('hex');
const tenants = ['a', 'b', 'c'].map((t) => `chaos-${t}-${suffix}`);

beforeAll(async () => {
  cluster = new PgCluster(await freePort());
  await cluster.init();
  await cluster.start();
  redisServer = new RedisServer(await freePort(), tempDir());
  await redisServer.start();
  pipe = await Pipeline.create({
    pgPort: cluster.port,
    config: {
      'subscriber.properties': {
        concurrency: 64,
        prefetch: 256,
        'retry.initial_delay': '100ms',
        'retry.max_delay': '1s',
      },
      'persistence.properties': { 'redis.port': redisServer.port },
    },
  });
  await pipe.addTenants(...tenants);
  redis = new Redis({ host: '127.0.0.1', port: redisServer.port, lazyConnect: true });
  await redis.connect();
}, 120_000);

afterAll(async () => {
  await pipe.destroy();
  await cluster.remove();
  redis.disconnect();
  await redisServer.kill();
}, 120_000);

async function whenProgress(fraction: number): Promise<void> {
  await waitFor(
    async () => (await countActions(pipe.pool, { state: 'succeeded' }).catch(() => 0)) >= TOTAL * fraction,
    120_000,
    `${fraction * 100} % succeeded`,
  );
}

it('10,000 actions all succeed across kill -9 of the subscriber and the publisher, a cut broker connection, a PostgreSQL and a Redis restart; each outcome committed once', async () => {
  const requests = Array.from({ length: TOTAL }, (_, i) => ({
    type: 'noop',
    tenant: tenants[i % 3] as string,
    args: { count: true, sleep_ms: 2 },
  }));
  const ids = await pipe.submit(requests);
  let publisher = pipe.start('publisher');
  let subscriber = pipe.start('subscriber');

  for (const fraction of [0.1, 0.25, 0.4]) {
    await whenProgress(fraction);
    subscriber.kill('SIGKILL');
    await subscriber.exited;
    subscriber = pipe.start('subscriber');
  }
  await whenProgress(0.5);
  expect(await closeBrokerConnections(`cmq-publisher-main@${hostname()}:${publisher.pid}`)).toBe(1);
  await whenProgress(0.6);
  await cluster.stop();
  // A fixed outage on purpose: the database stays away for a while, as in a real restart.
  await new Promise((r) => setTimeout(r, 1_000));
  await cluster.start();
  await whenProgress(0.7);
  publisher.kill('SIGKILL');
  await publisher.exited;
  publisher = pipe.start('publisher');
  await whenProgress(0.8);
  await redisServer.kill();
  // A fixed outage on purpose, as above.
  await new Promise((r) => setTimeout(r, 1_000));
  await redisServer.start();

  await pipe.allFinal(150_000);
  expect(await pipe.states()).toEqual({ succeeded: TOTAL });
  expect(publisher.alive()).toBe(true);
  expect(subscriber.alive()).toBe(true);

  // Each handler ran to completion at least once, and its outcome was committed exactly once.
  expect(await pipe.onceEach(redis, tenants, ids)).toEqual({ neverRan: [], notCommittedOnce: [] });
  expect(await countEvents(pipe.pool, { reason: 'taken over%' })).toBeGreaterThan(0);
}, 300_000);
