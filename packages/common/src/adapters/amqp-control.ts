import type { ConsumeMessage } from 'amqplib';
import type { AmqpClient } from './amqp-client';

/** A message taken from a process's own control queue (never acked: the queue is consumed with `noAck`). */
export interface ControlDelivery {
  readonly content: Buffer;
  readonly routingKey: string;
  /** The requester's reply queue (`replyTo` property), when it wants an answer. */
  readonly replyTo: string | undefined;
  /** The `correlationId` property, echoed in the answer. */
  readonly correlationId: string | undefined;
}

/**
 * Messages a process's control queue holds at most: a flood of commands (a script gone wrong)
 * drops the oldest rather than growing the broker's memory; a live process reads them at once.
 */
export const CONTROL_QUEUE_MAX_LENGTH = 100;

function toDelivery(msg: ConsumeMessage): ControlDelivery {
  const { replyTo, correlationId } = msg.properties as { replyTo?: unknown; correlationId?: unknown };
  return {
    content: msg.content,
    routingKey: msg.fields.routingKey,
    replyTo: typeof replyTo === 'string' && replyTo !== '' ? replyTo : undefined,
    correlationId: typeof correlationId === 'string' ? correlationId : undefined,
  };
}

/**
 * On every (re)connection of `client`, declares a server-named queue of this process alone
 * (exclusive, auto-delete: the broker deletes it when the connection goes), binds it to
 * `exchange` with each of `keys`, and hands every message to `onMessage` (consumed with `noAck`:
 * a command lost with its process has nothing left to act on). Listens as long as the
 * connection lives.
 */
export async function listenOwnQueue(
  client: AmqpClient,
  exchange: string,
  keys: readonly string[],
  onMessage: (delivery: ControlDelivery) => void,
): Promise<void> {
  await client.addSetup(async (channel) => {
    const { queue } = await channel.assertQueue('', {
      exclusive: true,
      autoDelete: true,
      durable: false,
      arguments: { 'x-max-length': CONTROL_QUEUE_MAX_LENGTH },
    });
    for (const key of keys) await channel.bindQueue(queue, exchange, key);
    await channel.consume(queue, (msg) => msg !== null && onMessage(toDelivery(msg)), { noAck: true });
  });
}

/** Answers a {@link ControlDelivery} on the default exchange (to its reply queue), with a confirm. */
export async function replyTo(client: AmqpClient, delivery: ControlDelivery, content: Buffer): Promise<void> {
  if (delivery.replyTo === undefined) return;
  const options = delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId };
  await client.publish('', delivery.replyTo, content, { ...options, persistent: false });
}

export interface RequestOptions {
  /** Sent as `correlationId`; only replies carrying it are collected. */
  correlationId: string;
  /** How long to wait for replies, ms. */
  timeoutMs: number;
  /** Stop waiting as soon as this many replies came (undefined: wait the whole timeout). */
  expected?: number;
  /** The message expires in the broker after this long, ms (undefined: never). */
  expirationMs?: number;
}

/**
 * Publishes `content` to `exchange` with a reply queue of its own (exclusive, auto-delete, on a
 * channel of its own) and collects the replies' bodies until `timeoutMs` has passed or
 * `expected` replies came. Resolves with them in arrival order.
 * @throws CmqError `CMQ_ERR_BROKER_UNAVAILABLE` when not connected; the broker's error when the
 * publish is not confirmed.
 */
export async function requestReplies(
  client: AmqpClient,
  exchange: string,
  routingKey: string,
  content: Buffer,
  opts: RequestOptions,
): Promise<Buffer[]> {
  return client.withChannel(async (channel) => {
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    const replies: Buffer[] = [];
    let enough: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (enough = resolve));
    const { consumerTag } = await channel.consume(
      queue,
      (msg) => {
        if (msg === null || msg.properties.correlationId !== opts.correlationId) return;
        replies.push(msg.content);
        if (opts.expected !== undefined && replies.length >= opts.expected) enough();
      },
      { noAck: true },
    );
    const expiration = opts.expirationMs === undefined ? {} : { expiration: String(Math.round(opts.expirationMs)) };
    channel.publish(exchange, routingKey, content, {
      replyTo: queue,
      correlationId: opts.correlationId,
      contentType: 'application/json',
      persistent: false,
      ...expiration,
    });
    await channel.waitForConfirms();
    if (opts.expected === 0) enough();
    const timer = setTimeout(enough, opts.timeoutMs);
    await done;
    clearTimeout(timer);
    await channel.cancel(consumerTag).catch(() => undefined);
    return replies;
  });
}
