import { Redis } from 'ioredis';
import { countActions } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import type { PrivateBroker } from '../helpers/private-broker';
import { PrivateCluster } from '../helpers/private-cluster';
import { waitFor } from '../helpers/wait';

// DESIGN.md invariant 1 across the loss of a broker node: a three-node RabbitMQ cluster of the
// test's own (ports 5701-5703), quorum queues, every process given the three URLs. Mid-run,
// kill -9 of the node that leads cmq.control (noop's queue), then, in a second run, of the node
// the publisher is connected to. Every action succeeds, its handler ran and its outcome was
// committed exactly once, and the dead node rejoins the cluster. One cluster for both runs: three
// nodes are heavy on two cores.

const TOTAL = 5_000;
const REDIS_DB = 6;
const tenants = ['k1', 'k2', 'k3'];
let cluster: PrivateCluster;
let p: Pipeline;
const redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
redis.on('error', () => undefined);

beforeAll(async () => {
  cluster = await PrivateCluster.start('cmq-cl', 5701);
  p = await Pipeline.create({
    config: {
      'mq.cfg': { 'amqp.urls': cluster.urls, 'amqp.vhost': '/', 'amqp.connect_timeout': '3s' },
      'persistence.properties': { 'redis.db': REDIS_DB },
      'publisher.properties': { 'relay.confirm_timeout': '5s' },
      'subscriber.properties': {
        concurrency: 16,
        prefetch: 128,
        'retry.initial_delay': '100ms',
        'retry.max_delay': '1s',
      },
    },
  });
  await p.addTenants(...tenants);
  await redis.connect();
  await redis.del(...tenants.map((t) => `cmq:noop:runs:${t}`));
  await p.startPublisherAndSubscriber();
}, 240_000);

afterAll(async () => {
  redis.disconnect();
  try {
    await p?.destroy();
  } finally {
    await cluster?.stop();
  }
}, 90_000);

/** Submits TOTAL noop actions that count their runs; their ids. */
async function submit(): Promise<string[]> {
  return p.submit(
    Array.from({ length: TOTAL }, (_, i) => ({
      type: 'noop',
      tenant: tenants[i % 3] as string,
      args: { count: true },
    })),
  );
}

async function whenSucceeded(n: number): Promise<void> {
  await waitFor(async () => (await countActions(p.pool, { state: 'succeeded' })) >= n, 180_000, `${n} succeeded`);
}

/** Kills `node` mid-run, waits for every action of `ids`, restarts it and waits for it to rejoin. */
async function surviveLoss(node: PrivateBroker, ids: string[], before: number): Promise<void> {
  await node.kill();
  const atKill = await countActions(p.pool, { state: 'succeeded' });
  expect(atKill - before).toBeLessThan(TOTAL); // work was outstanding when the node died
  await p.allFinal(240_000, ids);
  expect(await countActions(p.pool, { ids, state: 'succeeded' })).toBe(ids.length);
  expect(await p.onceEach(redis, tenants, ids)).toEqual({ neverRan: [], notCommittedOnce: [] });
  for (const proc of p.processes) expect(proc.alive()).toBe(true);
  await node.boot();
  await cluster.waitRunning(3);
}

it('loses the node leading cmq.control mid-run: every action succeeds once, the node rejoins', async () => {
  // Looked up before the run: rabbitmqctl takes a second or two, the run not much longer.
  const leader = (await cluster.rows('list_queues', 'name', 'leader')).find(([q]) => q === 'cmq.control')?.[1];
  if (leader === undefined) throw new Error('cmq.control has no leader');
  const ids = await submit();
  await whenSucceeded(TOTAL * 0.2);
  const start = Date.now();
  await surviveLoss(cluster.byName(leader), ids, 0);
  // A new leader was elected among the other two; the restarted node is a member again.
  const [, newLeader, members] =
    (await cluster.rows('list_queues', 'name', 'leader', 'members')).find(([q]) => q === 'cmq.control') ?? [];
  expect(newLeader).not.toBe(leader);
  expect(members).toContain(leader);
  process.stdout.write(`cluster run 1 (leader ${leader} killed): ${Date.now() - start} ms after the kill\n`);
}, 600_000);

it('loses the node the publisher is connected to mid-run: every action succeeds once, the node rejoins', async () => {
  const before = await countActions(p.pool, { state: 'succeeded' });
  // client_properties holds the connection_name each process gives (cmq-publisher-NAME@host:pid).
  const rows = await cluster.rows('list_connections', 'port', 'client_properties');
  const port = rows.find(([, props]) => props?.includes('cmq-publisher-'))?.[0];
  if (port === undefined) throw new Error(`no publisher connection among ${JSON.stringify(rows)}`);
  const ids = await submit();
  await whenSucceeded(before + TOTAL * 0.2);
  await surviveLoss(cluster.byPort(Number(port)), ids, before);
  // The publisher reconnected to another node.
  const after = await cluster.rows('list_connections', 'port', 'client_properties');
  expect(after.some(([q, props]) => props?.includes('cmq-publisher-') && q !== port)).toBe(true);
}, 600_000);
