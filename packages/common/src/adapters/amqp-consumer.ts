import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { errorText } from '../errors';
import type { Logger } from '../logging/logging';
import type { AmqpClient } from './amqp-client';
import { ChannelAcks } from './channel-acks';

/**
 * A message taken from a queue and not yet settled. Settle it exactly once, with
 * {@link AmqpConsumer.ack} after its outcome is committed or {@link AmqpConsumer.requeue} to hand
 * it back; never in a `finally`, or a failed message would be acked and lost.
 */
export interface Delivery {
  /** The body as published. */
  readonly content: Buffer;
  /** The routing key it was published with. */
  readonly routingKey: string;
  /** Its `messageId` property, whatever type the publisher gave it (undefined when none). */
  readonly messageId: unknown;
}

/** What a consumer is told about one queue. */
export interface ConsumeHandlers {
  /** Each delivery, in order. Called synchronously from the channel: start the work, do not await it here. */
  onDelivery(delivery: Delivery): void;
  /** The broker cancelled the consumer (its queue was deleted, say): nothing more comes on it. */
  onCancelled(): void;
}

export interface AmqpConsumerOptions {
  /** Unacknowledged deliveries a consumer may hold at once (`basic.qos`). */
  prefetch: number;
  logger: Logger;
}

/** What the consumer keeps of a delivery to settle it on the channel it came on. */
interface Held {
  msg: ConsumeMessage;
  acks: ChannelAcks;
}

/**
 * Consumes queues on an {@link AmqpClient}'s channel with manual acks (`noAck: false`) and a
 * bounded prefetch, again on every reconnection until {@link cancel}; {@link pause} and
 * {@link resume} stop and start taking deliveries in between. Acks are batched per channel (see
 * ChannelAcks); a settle on a channel that closed meanwhile is only logged: the broker has
 * requeued the message already.
 */
export class AmqpConsumer {
  private consumers: Array<{ channel: ConfirmChannel; queue: string; tag: string }> = [];
  /** Every queue consumed, to consume again on {@link resume}. */
  private readonly subscriptions: Array<{ queue: string; handlers: ConsumeHandlers }> = [];
  /** The channel the setups last ran on, and the queues a consume is under way for on it. */
  private channel: ConfirmChannel | undefined;
  private readonly starting = new Set<string>();
  private paused = false;
  /** Queues stopped one by one ({@link pauseQueue}), whatever {@link pause} says. */
  private readonly pausedQueues = new Set<string>();
  private readonly acks = new WeakMap<ConfirmChannel, ChannelAcks>();
  private readonly held = new WeakMap<Delivery, Held>();
  private cancelled = false;

  constructor(
    private readonly client: AmqpClient,
    private readonly opts: AmqpConsumerOptions,
  ) {}

  /** Consumes `queue` now if connected, and on every later (re)connection until {@link cancel}. */
  async consume(queue: string, handlers: ConsumeHandlers): Promise<void> {
    this.subscriptions.push({ queue, handlers });
    await this.client.addSetup((channel) => this.consumeOn(channel, queue, handlers));
  }

  /** Whether {@link pause} stopped the consumers (and no {@link resume} started them since). */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Stops taking deliveries until {@link resume}: every consumer is cancelled, so the broker
   * keeps the messages ready (for other consumers, or for this one later); deliveries already
   * received are settled as usual. A reconnection while paused starts no consumer.
   */
  async pause(): Promise<void> {
    if (this.paused || this.cancelled) return;
    this.paused = true;
    await this.cancelConsumers();
  }

  /** Consumes every queue again after {@link pause} (on the next connection if this one is gone). */
  async resume(): Promise<void> {
    if (!this.paused) return;
    this.paused = false;
    const channel = this.channel;
    if (channel === undefined) return;
    for (const { queue, handlers } of this.subscriptions)
      // A channel that closed meanwhile: the reconnection's setup consumes instead.
      await this.consumeOn(channel, queue, handlers).catch((err: unknown) =>
        this.opts.logger.debug({ err: errorText(err), queue }, 'resume: consume on a closed channel'),
      );
  }

  /**
   * Stops taking deliveries from `queue` alone until {@link resumeQueue}: its consumer is
   * cancelled (the broker keeps its messages ready for other consumers), the other queues go on,
   * and no reconnection starts it again. Independent of {@link pause}: a queue consumes when
   * neither stops it. Deliveries already received are settled as usual.
   */
  async pauseQueue(queue: string): Promise<void> {
    if (this.pausedQueues.has(queue)) return;
    this.pausedQueues.add(queue);
    const stopped = this.consumers.filter((c) => c.queue === queue);
    this.consumers = this.consumers.filter((c) => c.queue !== queue);
    for (const { channel, tag } of stopped) await channel.cancel(tag).catch(() => undefined);
  }

  /** Consumes `queue` again after {@link pauseQueue} (unless {@link pause} holds every queue). */
  async resumeQueue(queue: string): Promise<void> {
    if (!this.pausedQueues.delete(queue)) return;
    const channel = this.channel;
    if (channel === undefined) return;
    for (const { handlers } of this.subscriptions.filter((s) => s.queue === queue))
      await this.consumeOn(channel, queue, handlers).catch((err: unknown) =>
        this.opts.logger.debug({ err: errorText(err), queue }, 'resumeQueue: consume on a closed channel'),
      );
  }

  /** Stops every consumer (for good: a reconnection does not start them again). */
  async cancel(): Promise<void> {
    this.cancelled = true;
    await this.cancelConsumers();
  }

  private async cancelConsumers(): Promise<void> {
    const consumers = this.consumers;
    this.consumers = [];
    for (const { channel, tag } of consumers) await channel.cancel(tag).catch(() => undefined);
  }

  /** Acks `delivery` (batched: at the end of this event-loop turn). */
  ack(delivery: Delivery): void {
    this.settle(delivery, (held) => held.acks.ack(held.msg));
  }

  /** Hands `delivery` back to its queue at once (nack with requeue). */
  requeue(delivery: Delivery): void {
    this.settle(delivery, (held) => held.acks.requeue(held.msg));
  }

  private settle(delivery: Delivery, how: (held: Held) => void): void {
    const held = this.held.get(delivery);
    if (held === undefined) throw new Error('settle: not a delivery of this consumer');
    try {
      how(held);
    } catch (err) {
      this.ackFailed(err);
    }
  }

  private ackFailed(err: unknown): void {
    // The channel closed meanwhile: the broker requeued the message; its redelivery finds the row settled.
    this.opts.logger.debug({ err: errorText(err) }, 'ack on a closed channel');
  }

  private async consumeOn(channel: ConfirmChannel, queue: string, handlers: ConsumeHandlers): Promise<void> {
    // The consumers of a lost channel went with it.
    this.consumers = this.consumers.filter((c) => c.channel === channel);
    if (this.channel !== channel) this.starting.clear();
    this.channel = channel;
    if (this.stopped(queue)) return;
    if (this.starting.has(queue) || this.consumers.some((c) => c.queue === queue)) return;
    this.starting.add(queue);
    try {
      await this.startConsumer(channel, queue, handlers);
    } finally {
      if (this.channel === channel) this.starting.delete(queue);
    }
  }

  private async startConsumer(channel: ConfirmChannel, queue: string, handlers: ConsumeHandlers): Promise<void> {
    const acks = await this.acksOf(channel);
    if (this.stopped(queue)) return;
    const { consumerTag } = await channel.consume(
      queue,
      (msg) => {
        if (msg === null) {
          handlers.onCancelled();
          return;
        }
        acks.received(msg);
        const delivery: Delivery = {
          content: msg.content,
          routingKey: msg.fields.routingKey,
          messageId: msg.properties.messageId as unknown,
        };
        this.held.set(delivery, { msg, acks });
        handlers.onDelivery(delivery);
      },
      { noAck: false },
    );
    // Paused or cancelled while the broker answered: this consumer must not stay.
    if (this.stopped(queue)) await channel.cancel(consumerTag).catch(() => undefined);
    else this.consumers.push({ channel, queue, tag: consumerTag });
  }

  /** Whether `queue` must have no consumer now (cancelled, paused, or that queue paused). */
  private stopped(queue: string): boolean {
    return this.cancelled || this.paused || this.pausedQueues.has(queue);
  }

  /** The channel's ack batching; the first time, the prefetch (it applies to consumers started after it). */
  private async acksOf(channel: ConfirmChannel): Promise<ChannelAcks> {
    let acks = this.acks.get(channel);
    if (acks === undefined) {
      await channel.prefetch(this.opts.prefetch);
      acks = new ChannelAcks(channel, (err) => this.ackFailed(err));
      this.acks.set(channel, acks);
    }
    return acks;
  }
}
