import type { Channel } from 'amqplib';
import { DEAD_QUEUE, DELIVERY_LIMIT, Exchanges, FAMILIES, queueName } from '../names';

/**
 * Declares every exchange and queue. Idempotent: each process runs it after every
 * (re)connection. Family queues are quorum queues that dead-letter to `cmq.dead` after
 * {@link DELIVERY_LIMIT} redeliveries; routing keys are `<family>.<type>.<tenant>`.
 */
export async function declareTopology(channel: Channel): Promise<void> {
  await channel.assertExchange(Exchanges.actions, 'topic', { durable: true });
  await channel.assertExchange(Exchanges.dead, 'fanout', { durable: true });
  await channel.assertExchange(Exchanges.control, 'topic', { durable: true });
  for (const family of FAMILIES) {
    const queue = queueName(family);
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': Exchanges.dead,
        'x-delivery-limit': DELIVERY_LIMIT,
      },
    });
    await channel.bindQueue(queue, Exchanges.actions, `${family}.#`);
  }
  await channel.assertQueue(DEAD_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(DEAD_QUEUE, Exchanges.dead, '');
}
