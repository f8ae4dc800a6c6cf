import { randomBytes } from 'node:crypto';
import type { Channel, ChannelModel } from 'amqplib';
import pino from 'pino';
import { AmqpClient, AmqpConsumer, type Delivery, type MqConfig, StatusBoard, declareTopology } from '@cmq/common';
import { execFileP } from '../helpers/process';
import { brokerConnection, closeBrokerConnections } from '../helpers/services';
import { waitFor } from '../helpers/wait';

/** A private vhost: the consumer's queues meet no other test file's. */
const vhost = `cmq-test-${randomBytes(4).toString('hex')}`;
const BROKER = 'amqp://guest:guest@127.0.0.1:5672';
const logger = pino({ level: 'silent' });

const amqpConfig: MqConfig['amqp'] = {
  urls: [BROKER],
  vhost,
  heartbeat: 30_000,
  connect_timeout: 2_000,
  reconnect: { initial_delay: 50, max_delay: 500 },
  tls: { ca: '', cert: '', key: '', passphrase: '' },
};

let observer: ChannelModel;
let observerChannel: Channel;
const clients: AmqpClient[] = [];

async function rabbitmqctl(...args: string[]): Promise<string> {
  return (await execFileP('rabbitmqctl', ['-q', ...args], { timeout: 60_000 })).stdout;
}

interface Harness {
  client: AmqpClient;
  consumer: AmqpConsumer;
  connectionName: string;
  queue: string;
  received: Delivery[];
  cancelled: () => number;
  /** Publishes `bodies` onto the harness's queue, from the observer. */
  publish: (...bodies: string[]) => void;
  /** Messages ready (not delivered) on the queue. */
  ready: () => Promise<number>;
}

/** A harness whose consume has not been awaited yet: `started` settles when it has. */
async function starting(prefetch: number): Promise<Harness & { started: Promise<void> }> {
  const queue = `consumer-test-${randomBytes(4).toString('hex')}`;
  await observerChannel.assertQueue(queue, { durable: false });
  const connectionName = `cmq-test-consumer-${randomBytes(4).toString('hex')}`;
  const client = new AmqpClient({
    config: amqpConfig,
    connectionName,
    logger,
    status: new StatusBoard(),
    setup: declareTopology,
  });
  clients.push(client);
  await client.start(new AbortController().signal);
  const consumer = new AmqpConsumer(client, { prefetch, logger });
  const received: Delivery[] = [];
  let cancelled = 0;
  const started = consumer.consume(queue, {
    onDelivery: (d) => received.push(d),
    onCancelled: () => (cancelled += 1),
  });
  return {
    started,
    client,
    consumer,
    connectionName,
    queue,
    received,
    cancelled: () => cancelled,
    publish: (...bodies) => bodies.forEach((b) => observerChannel.sendToQueue(queue, Buffer.from(b), { messageId: b })),
    ready: async () => (await observerChannel.checkQueue(queue)).messageCount,
  };
}

async function consuming(prefetch: number): Promise<Harness> {
  const h = await starting(prefetch);
  await h.started;
  return h;
}

/** How many consumers the broker has on the harness's queue. */
const consumers = async (h: Harness): Promise<number> => (await observerChannel.checkQueue(h.queue)).consumerCount;

/** Checks that a paused harness takes nothing: no consumer, and what is published stays ready. */
async function takesNothing(h: Harness, ...published: string[]): Promise<void> {
  expect(await consumers(h)).toBe(0);
  const before = h.received.length;
  const ready = await h.ready();
  h.publish(...published);
  await waitFor(async () => (await h.ready()) === ready + published.length, 5_000, 'the messages to stay ready');
  expect(h.received.length).toBe(before);
}

const bodies = (ds: Delivery[]): string[] => ds.map((d) => d.content.toString());

beforeAll(async () => {
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
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

describe('AmqpConsumer', () => {
  it('consumes with manual acks and the configured prefetch, and hands over the routing key and messageId', async () => {
    const h = await consuming(2);
    h.publish('a', 'b', 'c', 'd', 'e');
    await waitFor(async () => h.received.length === 2 && (await h.ready()) === 3, 5_000, 'two deliveries, three ready');
    const consumers = await rabbitmqctl('list_consumers', '-p', vhost, 'queue_name', 'ack_required', 'prefetch_count');
    expect(consumers).toContain(`${h.queue}\ttrue\t2`);
    expect(h.received[0]).toMatchObject({ routingKey: h.queue, messageId: 'a' });

    // Each ack lets one more in; acked messages leave the queue.
    h.consumer.ack(h.received[0] as Delivery);
    await waitFor(() => h.received.length === 3, 5_000, 'a third delivery after one ack');
    for (const d of h.received.slice(1)) h.consumer.ack(d);
    await waitFor(() => h.received.length === 5, 5_000, 'every delivery');
    for (const d of h.received.slice(3)) h.consumer.ack(d);
    expect(bodies(h.received)).toEqual(['a', 'b', 'c', 'd', 'e']);
    // Nothing ready, nothing unacked: the batched acks reached the broker.
    await waitFor(
      async () => (await rabbitmqctl('list_queues', '-p', vhost, 'name', 'messages')).includes(`${h.queue}\t0`),
      10_000,
      'an empty queue',
    );
  });

  it('requeue hands a delivery back at once: it comes again', async () => {
    const h = await consuming(1);
    h.publish('x');
    await waitFor(() => h.received.length === 1, 5_000, 'the delivery');
    h.consumer.requeue(h.received[0] as Delivery);
    await waitFor(() => h.received.length === 2, 5_000, 'the redelivery');
    expect(bodies(h.received)).toEqual(['x', 'x']);
    h.consumer.ack(h.received[1] as Delivery);
  });

  it('consumes again after a reconnection; settling a delivery of the lost channel does not throw', async () => {
    const h = await consuming(1);
    h.publish('y');
    await waitFor(() => h.received.length === 1, 5_000, 'the delivery');
    expect(await closeBrokerConnections(h.connectionName)).toBe(1);
    // The unacked delivery is requeued by the broker and comes again on the new channel.
    await waitFor(() => h.received.length === 2, 15_000, 'the redelivery on the new connection');
    expect(() => h.consumer.ack(h.received[0] as Delivery)).not.toThrow();
    h.consumer.ack(h.received[1] as Delivery);
    await waitFor(async () => (await h.ready()) === 0, 5_000, 'an empty queue');
    h.publish('z');
    await waitFor(() => h.received.length === 3, 5_000, 'a new delivery');
  });

  it('cancel() stops consuming for good, across a reconnection too', async () => {
    const h = await consuming(1);
    await h.consumer.cancel();
    h.client.reconnect();
    await waitFor(() => h.client.connected, 15_000, 'the reconnection');
    h.publish('after');
    await waitFor(async () => (await h.ready()) === 1, 5_000, 'the message to stay ready');
    expect((await observerChannel.checkQueue(h.queue)).consumerCount).toBe(0);
    expect(h.received).toEqual([]);
  });

  it('pause() stops taking deliveries and resume() takes them again', async () => {
    const h = await consuming(5);
    h.publish('before');
    await waitFor(() => h.received.length === 1, 5_000, 'the first delivery');
    await h.consumer.pause();
    expect(h.consumer.isPaused).toBe(true);
    // A delivery received before the pause is settled as usual.
    h.consumer.ack(h.received[0] as Delivery);
    await takesNothing(h, 'p1', 'p2');
    await h.consumer.resume();
    expect(h.consumer.isPaused).toBe(false);
    await waitFor(() => h.received.length === 3, 5_000, 'the deliveries after resume');
    expect(bodies(h.received)).toEqual(['before', 'p1', 'p2']);
    expect(await consumers(h)).toBe(1);
  });

  it('pause() while the consumer is starting leaves none; resume() starts one', async () => {
    const h = await starting(5);
    await h.consumer.pause();
    await h.started;
    await takesNothing(h, 's1');
    await h.consumer.resume();
    await waitFor(() => h.received.length === 1, 5_000, 'the delivery after resume');
    expect(await consumers(h)).toBe(1);
  });

  it('resume() before pause() has cancelled leaves exactly one consumer', async () => {
    const h = await consuming(5);
    const paused = h.consumer.pause();
    await h.consumer.resume();
    await paused;
    await waitFor(async () => (await consumers(h)) === 1, 5_000, 'one consumer');
    h.publish('r1', 'r2');
    await waitFor(() => h.received.length === 2, 5_000, 'the deliveries');
    expect(await consumers(h)).toBe(1);
  });

  it('resume() while the connection is lost consumes on the new one, once', async () => {
    const h = await consuming(5);
    await h.consumer.pause();
    expect(await closeBrokerConnections(h.connectionName)).toBe(1);
    await h.consumer.resume();
    await waitFor(() => h.client.connected, 15_000, 'the reconnection');
    await waitFor(async () => (await consumers(h)) === 1, 15_000, 'a consumer on the new connection');
    h.publish('c1');
    await waitFor(() => h.received.length === 1, 5_000, 'the delivery');
    expect(await consumers(h)).toBe(1);
  });

  it('a reconnection while paused starts no consumer', async () => {
    const h = await consuming(5);
    await h.consumer.pause();
    h.client.reconnect();
    await waitFor(() => h.client.connected, 15_000, 'the reconnection');
    await takesNothing(h, 'q1');
    await h.consumer.resume();
    await waitFor(() => h.received.length === 1, 5_000, 'the delivery after resume');
  });

  it('pauseQueue() stops one queue while another goes on; pause()/resume() and a reconnection leave it paused; resumeQueue() takes it again', async () => {
    const h = await consuming(5);
    const other = `consumer-test-${randomBytes(4).toString('hex')}`;
    await observerChannel.assertQueue(other, { durable: false });
    const fromOther: Delivery[] = [];
    await h.consumer.consume(other, { onDelivery: (d) => fromOther.push(d), onCancelled: () => undefined });
    await h.consumer.pauseQueue(h.queue);
    await takesNothing(h, 'x1');
    observerChannel.sendToQueue(other, Buffer.from('o1'));
    await waitFor(() => fromOther.length === 1, 5_000, 'the other queue going on');
    await h.consumer.pause();
    await h.consumer.resume();
    h.client.reconnect();
    await waitFor(() => h.client.connected, 15_000, 'the reconnection');
    await waitFor(
      async () => (await observerChannel.checkQueue(other)).consumerCount === 1,
      15_000,
      'the other consumed',
    );
    await takesNothing(h, 'x2');
    await h.consumer.resumeQueue(h.queue);
    await waitFor(() => h.received.length === 2, 5_000, 'the deliveries after resumeQueue');
    expect(bodies(h.received)).toEqual(['x1', 'x2']);
    expect(await consumers(h)).toBe(1);
    await observerChannel.deleteQueue(other);
  });

  it('tells when the broker cancels the consumer (its queue deleted)', async () => {
    const h = await consuming(1);
    await observerChannel.deleteQueue(h.queue);
    await waitFor(() => h.cancelled() === 1, 5_000, 'the cancel');
  });
});
