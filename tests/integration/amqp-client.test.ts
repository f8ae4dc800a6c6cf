import { randomBytes } from 'node:crypto';
import type { Channel, ChannelModel } from 'amqplib';
import pino from 'pino';
import {
  AmqpClient,
  CmqError,
  DELIVERY_LIMIT,
  Exchanges,
  FAMILIES,
  type MqConfig,
  StatusBoard,
  declareTopology,
  queueName,
} from '@cmq/common';
import { freePort } from '../helpers/private-servers';
import { execFileP } from '../helpers/process';
import { brokerConnection, brokerConnections, closeBrokerConnections } from '../helpers/services';
import { waitFor } from '../helpers/wait';

/**
 * The client runs in a private vhost, so that its topology is declared from nothing and
 * nothing it declares meets the other test files' queues.
 */
const vhost = `cmq-test-${randomBytes(4).toString('hex')}`;
const BROKER = 'amqp://guest:guest@127.0.0.1:5672';
const logger = pino({ level: 'silent' });

function mqConfig(urls: string[]): MqConfig['amqp'] {
  return {
    urls,
    vhost,
    heartbeat: 30_000,
    connect_timeout: 2_000,
    reconnect: { initial_delay: 50, max_delay: 500 },
    tls: { ca: '', cert: '', key: '', passphrase: '' },
  };
}

interface Harness {
  client: AmqpClient;
  connectionName: string;
  status: StatusBoard;
  /** Every status summary, in order of change. */
  statuses: string[];
  /** How many times setup ran. */
  setups: () => number;
}

const clients: AmqpClient[] = [];

function makeClient(urls: string[], setup: (ch: Channel) => Promise<void> = declareTopology): Harness {
  const connectionName = `cmq-test-amqp-${randomBytes(4).toString('hex')}`;
  const status = new StatusBoard();
  const statuses: string[] = [];
  status.onChange(() => statuses.push(status.summary()));
  let setups = 0;
  const client = new AmqpClient({
    config: mqConfig(urls),
    connectionName,
    logger,
    status,
    setup: async (channel) => {
      setups += 1;
      await setup(channel);
    },
  });
  clients.push(client);
  return { client, connectionName, status, statuses, setups: () => setups };
}

/** A plain amqplib connection of the test's own, to look at what the client did. */
let observer: ChannelModel;
let observerChannel: Channel;

/** A server-named exclusive queue bound to `cmq.control` with a unique routing key. */
async function tap(): Promise<{ queue: string; routingKey: string }> {
  const routingKey = `control.test.${randomBytes(4).toString('hex')}`;
  const { queue } = await observerChannel.assertQueue('', { exclusive: true, autoDelete: true });
  await observerChannel.bindQueue(queue, Exchanges.control, routingKey);
  return { queue, routingKey };
}

async function readOne(queue: string): Promise<string> {
  let body: string | undefined;
  await waitFor(
    async () => {
      const msg = await observerChannel.get(queue, { noAck: true });
      if (msg !== false) body = msg.content.toString();
      return body !== undefined;
    },
    5_000,
    `a message on ${queue}`,
  );
  return body as string;
}

async function publishAndReadBack(client: AmqpClient): Promise<void> {
  const { queue, routingKey } = await tap();
  const body = `hello ${randomBytes(4).toString('hex')}`;
  await client.publish(Exchanges.control, routingKey, Buffer.from(body));
  expect(await readOne(queue)).toBe(body);
}

async function rabbitmqctl(...args: string[]): Promise<string> {
  return (await execFileP('rabbitmqctl', ['-q', ...args], { timeout: 60_000 })).stdout;
}

beforeAll(async () => {
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  // The exchange must exist before the observer binds to it; a client declares it once started.
  const h = makeClient([BROKER]);
  await h.client.start(new AbortController().signal);
  await h.client.close();
  observer = await brokerConnection(vhost);
  observerChannel = await observer.createChannel();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await observer.close();
  await rabbitmqctl('delete_vhost', vhost);
});

describe('AmqpClient', () => {
  it('connects, and its setup declares the family quorum queues dead-lettering to cmq.dead', async () => {
    const h = makeClient([BROKER]);
    await h.client.start(new AbortController().signal);
    expect(h.client.connected).toBe(true);
    expect(h.setups()).toBe(1);
    expect(h.status.summary()).toBe('');
    expect(await brokerConnections(h.connectionName)).toHaveLength(1);

    type Row = { name: string; type: string; arguments: Array<[string, string, unknown]> };
    const rows = JSON.parse(
      await rabbitmqctl('list_queues', '-p', vhost, 'name', 'type', 'arguments', '--formatter', 'json'),
    ) as Row[];
    const byName = new Map(rows.map((r) => [r.name, r]));
    for (const family of FAMILIES) {
      const row = byName.get(queueName(family));
      expect(row?.type).toBe('quorum');
      const args = Object.fromEntries((row?.arguments ?? []).map(([k, , v]) => [k, v]));
      expect(args).toMatchObject({ 'x-dead-letter-exchange': Exchanges.dead, 'x-delivery-limit': DELIVERY_LIMIT });
    }
    expect(byName.get('cmq.dead')?.type).toBe('quorum');
  });

  it('publish resolves once confirmed, and the message is on the bound queue', async () => {
    const h = makeClient([BROKER]);
    await h.client.start(new AbortController().signal);
    await publishAndReadBack(h.client);
  });

  it('falls back to the next URL of a cluster, saying which broker it waits for, without credentials', async () => {
    const closed = await freePort();
    const h = makeClient([`amqp://guest:guest@127.0.0.1:${closed}`, BROKER]);
    await h.client.start(new AbortController().signal);
    expect(h.client.connected).toBe(true);
    expect(h.statuses.some((s) => s.startsWith(`waiting for broker at amqp://127.0.0.1:${closed} (`))).toBe(true);
    expect(h.status.summary()).toBe('');
    expect(h.statuses.join('\n')).not.toContain('guest');
    await publishAndReadBack(h.client);
  });

  it('after the broker closes its connection: reports it, reruns setup, clears the status, publishes again', async () => {
    const h = makeClient([BROKER]);
    await h.client.start(new AbortController().signal);
    expect(await closeBrokerConnections(h.connectionName)).toBe(1);

    await waitFor(() => h.setups() === 2 && h.client.connected, 15_000, 'the client to reconnect');
    const lost = h.statuses.find((s) => s.includes('connection lost'));
    expect(lost).toMatch(/^waiting for broker at amqp:\/\/127\.0\.0\.1:5672 \(connection lost: .*closed by test/);
    expect(h.status.summary()).toBe('');
    expect(h.statuses.join('\n')).not.toContain('guest:guest');
    expect(await brokerConnections(h.connectionName)).toHaveLength(1);
    await publishAndReadBack(h.client);
  });

  it('reconnect(): not connected from the call until the new connection is set up; a publish meanwhile is refused as not connected', async () => {
    const h = makeClient([BROKER]);
    await h.client.start(new AbortController().signal);
    const { routingKey } = await tap();
    h.client.reconnect(5_000);
    expect(h.client.connected).toBe(false);
    await expect(h.client.publish(Exchanges.control, routingKey, Buffer.from('x'))).rejects.toMatchObject({
      code: 'CMQ_ERR_BROKER_UNAVAILABLE',
      message: 'not connected to the broker',
    });
    await waitFor(() => h.setups() === 2 && h.client.connected, 15_000, 'the client to reconnect');
    await publishAndReadBack(h.client);
  });

  it('reruns a setup that failed, saying why it waits', async () => {
    let calls = 0;
    const h = makeClient([BROKER], async (channel) => {
      calls += 1;
      if (calls === 1) throw new Error('setup refused once');
      await declareTopology(channel);
    });
    await h.client.start(new AbortController().signal);
    expect(h.setups()).toBe(2);
    expect(h.statuses).toContain('waiting for broker at amqp://127.0.0.1:5672 (setup refused once)');
    expect(h.status.summary()).toBe('');
    // The connection of the failed attempt was closed, not leaked.
    await waitFor(async () => (await brokerConnections(h.connectionName)).length === 1, 10_000, 'one connection left');
  });

  it('publish without a connection rejects at once with a transient CMQ_ERR_BROKER_UNAVAILABLE', async () => {
    const h = makeClient([`amqp://guest:guest@127.0.0.1:${await freePort()}`]);
    const before = h.client.publish(Exchanges.control, 'control.test.x', Buffer.from('x'));
    await expect(before).rejects.toBeInstanceOf(CmqError);
    await expect(before).rejects.toMatchObject({ code: 'CMQ_ERR_BROKER_UNAVAILABLE', transient: true });

    void h.client.start(new AbortController().signal);
    await waitFor(() => h.status.summary() !== '', 5_000, 'a waiting status');
    await expect(h.client.publish(Exchanges.control, 'control.test.x', Buffer.from('x'))).rejects.toMatchObject({
      code: 'CMQ_ERR_BROKER_UNAVAILABLE',
      transient: true,
    });
  });

  it('close() resolves while still retrying an unreachable broker, and is idempotent', async () => {
    const h = makeClient([`amqp://guest:guest@127.0.0.1:${await freePort()}`]);
    void h.client.start(new AbortController().signal);
    await waitFor(() => h.statuses.length > 0, 5_000, 'a first failed attempt');
    const t0 = Date.now();
    await h.client.close();
    await h.client.close();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(h.client.connected).toBe(false);
  });

  it('start() returns when its signal aborts while the broker is unreachable', async () => {
    const h = makeClient([`amqp://guest:guest@127.0.0.1:${await freePort()}`]);
    const abort = new AbortController();
    const started = h.client.start(abort.signal);
    await waitFor(() => h.statuses.length > 0, 5_000, 'a first failed attempt');
    abort.abort();
    await expect(started).resolves.toBeUndefined();
    expect(h.client.connected).toBe(false);
  });

  it('close() right after start() leaves no connection behind', async () => {
    const h = makeClient([BROKER]);
    const started = h.client.start(new AbortController().signal);
    await h.client.close();
    await h.client.close();
    await started;
    expect(h.client.connected).toBe(false);
    // Give a connection that was still being opened the time to show up, then make sure it did not.
    await new Promise((r) => setTimeout(r, 500));
    expect(await brokerConnections(h.connectionName)).toEqual([]);
  });

  it('close() of a connected client closes its broker connection', async () => {
    const h = makeClient([BROKER]);
    await h.client.start(new AbortController().signal);
    await h.client.close();
    await h.client.close();
    expect(h.client.connected).toBe(false);
    await waitFor(async () => (await brokerConnections(h.connectionName)).length === 0, 10_000, 'the connection to go');
    await expect(h.client.publish(Exchanges.control, 'control.test.x', Buffer.from('x'))).rejects.toMatchObject({
      code: 'CMQ_ERR_BROKER_UNAVAILABLE',
    });
  });
});
