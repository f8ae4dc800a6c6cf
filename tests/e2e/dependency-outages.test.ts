import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RawRequest } from '@cmq/actions';
import { type ActionFilter, countActions, listActions, listEvents, stateCounts } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { PgCluster, RedisServer, freePort } from '../helpers/private-servers';
import { runCmq, waitForLog } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { makeKeyPair } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

// An outage of Redis or PostgreSQL (private servers: the shared ones stay up for the other test
// files) is not the actions' fault: the subscriber stops taking deliveries until it is over, an
// action that met it is held back without counting an attempt, and every action succeeds after.

const TENANT = 'outage';
const QUEUES = ['cmq.provision', 'cmq.monitor', 'cmq.guest', 'cmq.control'];
let cluster: PgCluster;
let redisServer: RedisServer;
let pipe: Pipeline;
let account: string;

beforeAll(async () => {
  cluster = new PgCluster(await freePort());
  await cluster.init();
  await cluster.start();
  redisServer = new RedisServer(await freePort());
  await redisServer.start();
  pipe = await Pipeline.create({
    pgPort: cluster.port,
    config: {
      // A prefetch larger than all the actions of a test: the broker would deliver every ready
      // message to a consumer that had not stopped.
      'subscriber.properties': {
        concurrency: 4,
        prefetch: 256,
        'retry.initial_delay': '200ms',
        'retry.max_delay': '1s',
      },
      'persistence.properties': { 'redis.port': redisServer.port },
    },
  });
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  const key = makeKeyPair(pipe.dir, 'local_account_key');
  writeFileSync(
    join(pipe.dir, 'local.json'),
    JSON.stringify({ ssh_private_key: key.privateKey, ssh_public_key: key.publicKey.trim() }),
  );
  await pipe.addTenants(TENANT);
  const added = await runCmq([
    ...['accounts', 'add', '--tenant', TENANT, '--provider', 'local', '--region', 'lo'],
    ...['--credentials-file', join(pipe.dir, 'local.json'), '--config-dir', pipe.dir],
  ]);
  expect(added.code).toBe(0);
  account = /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
  await pipe.startPublisherAndSubscriber();
}, 120_000);

afterAll(async () => {
  await pipe.destroy();
  await cluster.remove();
  await redisServer.kill();
}, 120_000);

/** Messages ready and consumers of each family queue, as the broker counts them. */
async function queues(): Promise<Array<{ queue: string; messages: number; consumers: number }>> {
  const conn = await brokerConnection(pipe.vhost);
  try {
    const ch = await conn.createChannel();
    const out = [];
    for (const queue of QUEUES) {
      const ok = await ch.checkQueue(queue);
      out.push({ queue, messages: ok.messageCount, consumers: ok.consumerCount });
    }
    return out;
  } finally {
    await conn.close();
  }
}

function noops(n: number, args: Record<string, unknown>): RawRequest[] {
  return Array.from({ length: n }, () => ({ type: 'noop', tenant: TENANT, args }));
}

/** Waits until the subscriber logged `msg`. */
async function subscriberSays(msg: string): Promise<void> {
  await waitForLog(join(pipe.logDir, 'subscriber-default.log'), (l) => l.msg === msg, 20_000, msg);
}

/**
 * Keeps the dependency away until `downAt + ms` (the outage's length is what is tested), checking
 * all along that nothing is taken from cmq.control: the messages ready there never go down, and
 * `check` holds. Returns the fewest messages seen ready there.
 */
async function holdOutage(downAt: number, ms: number, check: () => Promise<void>): Promise<number> {
  let least = Infinity;
  let last = 0;
  while (Date.now() < downAt + ms) {
    const ready = (await queues()).find((q) => q.queue === 'cmq.control')?.messages ?? 0;
    expect(ready).toBeGreaterThanOrEqual(last);
    least = Math.min(least, ready);
    last = ready;
    await check();
    await sleep(1_000);
  }
  return least;
}

/** How many actions match any of `filters`, and their highest attempts and outages. */
async function counts(...filters: ActionFilter[]): Promise<{ n: number; attempts: number; outages: number }> {
  const rows = (await Promise.all(filters.map((f) => listActions(pipe.pool, f)))).flat();
  const most = (values: number[]): number => Math.max(0, ...values);
  return { n: rows.length, attempts: most(rows.map((r) => r.attempts)), outages: most(rows.map((r) => r.outages)) };
}

it('Redis down 60 s while 200 actions that touch it arrive: none is claimed while it is away, none uses an attempt for it, all succeed after', async () => {
  // Each counts its run in Redis; some are running when Redis goes.
  const before = await pipe.submit(noops(100, { count: true, sleep_ms: 100 }));
  await waitFor(
    async () => (await countActions(pipe.pool, { ids: before, state: 'succeeded' })) >= 10,
    30_000,
    'the first actions to succeed',
  );
  await redisServer.kill();
  const downAt = Date.now();
  await subscriberSays('consumption paused: waiting for redis');
  const during = await pipe.submit([
    ...noops(99, { count: true }),
    // A cloud action: it takes a token of the account's rate limiter in Redis first.
    { type: 'sync.servers', tenant: TENANT, args: { account } },
  ]);
  // A quorum queue counts a cancelled consumer until the deliveries it holds are settled: those the
  // subscriber had before the outage end (held back, or done) within moments; then none is left.
  await waitFor(async () => (await queues()).every((q) => q.consumers === 0), 20_000, 'no consumer left');
  await waitFor(
    async () => (await countActions(pipe.pool, { ids: during, state: 'queued' })) > 0,
    20_000,
    'the relay to publish',
  );
  await holdOutage(downAt, 60_000, async () => {
    expect((await queues()).map((q) => q.consumers)).toEqual([0, 0, 0, 0]);
    expect(await listEvents(pipe.pool, { ids: during, to: 'running' })).toEqual([]);
  });
  await redisServer.start();
  await subscriberSays('consumption resumed: redis is back');
  const ids = [...before, ...during];
  await pipe.allFinal(120_000, ids);
  expect(await stateCounts(pipe.pool, { ids })).toEqual({ succeeded: 200 });
  // Held back is not an attempt: every action succeeded at its first counted attempt.
  expect(await counts({ ids })).toEqual({ n: 200, attempts: 1, outages: 1 });
  // What `cmq actions show` says of an action held back: not a failed attempt.
  const held = await listEvents(pipe.pool, { ids, reason: 'held back by an outage, not a failed attempt: Redis%' });
  expect(held.length).toBeGreaterThan(0);
  const show = await runCmq(['actions', 'show', held[0]?.action_id ?? '', '--config-dir', pipe.dir]);
  expect(show.stdout).toContain('held back by an outage, not a failed attempt');
  expect(show.stdout).toMatch(/attempts: +1 of 5 \(and 1 runs held back by an outage not counted\)/);
}, 240_000);

it('PostgreSQL down 30 s while 200 actions arrive: none is taken while it is away, none uses an attempt for it, all succeed after', async () => {
  const before = await pipe.submit(noops(100, { sleep_ms: 100 }));
  await waitFor(
    async () => (await countActions(pipe.pool, { ids: before, state: 'succeeded' })) >= 10,
    30_000,
    'the first actions to succeed',
  );
  await cluster.stop();
  const downAt = Date.now();
  await subscriberSays('consumption paused: waiting for postgres');
  // With PostgreSQL away, requests arrive straight on the broker, as other components publish them.
  const conn = await brokerConnection(pipe.vhost);
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < 100; i += 1) {
    const body = { type: 'noop', tenant: TENANT, args: {}, idempotency_key: `pg-outage-${i}` };
    ch.publish('cmq.actions', `control.noop.${TENANT}`, Buffer.from(JSON.stringify(body)));
  }
  await ch.waitForConfirms();
  await conn.close();
  // The deliveries it held when PostgreSQL went wait for it (their claims and commits retry), so
  // the broker still counts the cancelled consumer: the proof is that nothing more is taken.
  const least = await holdOutage(downAt, 30_000, () => Promise.resolve());
  // Every request that arrived stayed ready: nothing took it in.
  expect(least).toBeGreaterThanOrEqual(100);
  await cluster.start();
  await subscriberSays('consumption resumed: postgres is back');
  await waitFor(
    async () => (await countActions(pipe.pool, { idempotencyKey: 'pg-outage-%' })) === 100,
    60_000,
    'the requests taken in',
  );
  const mine: ActionFilter[] = [{ ids: before }, { idempotencyKey: 'pg-outage-%' }];
  await waitFor(
    async () => (await counts(...mine.map((f) => ({ ...f, state: 'succeeded' })))).n === 200,
    120_000,
    'all 200 succeeded',
  );
  const all = await counts(...mine);
  expect(all.n).toBe(200);
  expect(all.attempts).toBe(1);
}, 180_000);
