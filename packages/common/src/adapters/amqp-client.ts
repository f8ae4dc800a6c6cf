import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { CmqError, errorText } from '../errors';
import type { MqConfig } from '../config/shared-files';
import { brokerLabel, connectOptions, socketOptions } from './amqp-connect-options';
import { coalesceWrites, socketOf } from './amqp-socket';
import type { Logger } from '../logging/logging';
import type { Component, StatusBoard } from '../lifecycle/component';
import { backoffDelay, sleep } from '../lifecycle/timing';

export { brokerLabel } from './amqp-connect-options';

export interface AmqpClientOptions {
  config: MqConfig['amqp'];
  /** Shown in the broker's connection list (`rabbitmqctl list_connections client_properties`). */
  connectionName: string;
  logger: Logger;
  status: StatusBoard;
  /**
   * Runs on a fresh confirm channel after every (re)connection: declare the topology, start
   * consumers. Channels of a lost connection stay closed, so everything is made here.
   */
  setup: (channel: ConfirmChannel) => Promise<void>;
  /** Component name and status-board key (default `amqp`): a second connection of a process needs its own. */
  name?: string;
}

const blockedText = (reason: string): string => `broker blocked publishing: ${reason}`;

/** A publish the broker refused (nacked), as opposed to one it never answered for. */
export class PublishRefused extends CmqError {}

/**
 * A RabbitMQ connection of a process. Connects to the configured URLs in turn with
 * capped, jittered backoff, reruns `setup` after every reconnection, and publishes on a confirm
 * channel. While the broker is away it says so on the status board and keeps trying.
 */
export class AmqpClient implements Component {
  readonly name: string;
  private model: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private attempt = 0;
  private readonly extraSetups: Array<(channel: ConfirmChannel) => Promise<void>> = [];
  private blockedReason: string | undefined;
  private closing: ChannelModel | undefined;

  constructor(private readonly opts: AmqpClientOptions) {
    this.name = opts.name ?? 'amqp';
  }

  /**
   * Resolves after the first successful connection and setup, or without connecting when
   * `signal` aborts or `close()` is called first.
   */
  start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => this.abort.abort(), { once: true });
    return new Promise((resolve, reject) => {
      this.loop = this.connectLoop(resolve).then(resolve, reject);
    });
  }

  /** True while a connection and channel are open. */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /**
   * Why the broker blocks this connection's publishing (a resource alarm: "low on memory", "low
   * on disk"), from its `connection.blocked` until `connection.unblocked`; undefined otherwise.
   * A blocked broker reads nothing more from the connection: publishes wait, unconfirmed.
   */
  get blocked(): string | undefined {
    return this.blockedReason;
  }

  /** ` (broker blocked publishing: REASON)` while blocked, '' otherwise: for why a confirm did not come. */
  blockedNote(): string {
    return this.blockedReason === undefined ? '' : ` (${blockedText(this.blockedReason)})`;
  }

  /**
   * Publishes and waits for the broker's confirm.
   * @throws CmqError `CMQ_ERR_BROKER_UNAVAILABLE` (transient) when not connected or not confirmed;
   * a {@link PublishRefused} (`CMQ_ERR_PUBLISH_REFUSED`, transient) when the broker nacked the message.
   */
  async publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish = {}): Promise<void> {
    const channel = this.channel;
    if (channel === undefined)
      throw new CmqError('CMQ_ERR_BROKER_UNAVAILABLE', 'not connected to the broker', { transient: true });
    await new Promise<void>((resolve, reject) => {
      channel.publish(exchange, routingKey, content, { persistent: true, ...options }, (err: unknown) => {
        if (!err) {
          resolve();
          return;
        }
        const text = errorText(err);
        // amqplib's error for a basic.nack: the broker refused the message (a full queue with reject-publish, say).
        const refused = text === 'message nacked';
        const Type = refused ? PublishRefused : CmqError;
        reject(
          new Type(
            refused ? 'CMQ_ERR_PUBLISH_REFUSED' : 'CMQ_ERR_BROKER_UNAVAILABLE',
            `publish to ${exchange} not confirmed: ${text}`,
            {
              cause: err,
              transient: true,
            },
          ),
        );
      });
    });
  }

  /**
   * Messages ready and consumers of a queue (a passive declare), for health checks.
   * @throws CmqError `CMQ_ERR_BROKER_UNAVAILABLE` (transient) when not connected; the broker's
   * error when the queue does not exist (which closes the channel: everything is set up again).
   */
  async checkQueue(queue: string): Promise<{ messages: number; consumers: number }> {
    const channel = this.channel;
    if (channel === undefined)
      throw new CmqError('CMQ_ERR_BROKER_UNAVAILABLE', 'not connected to the broker', { transient: true });
    const ok = await channel.checkQueue(queue);
    return { messages: ok.messageCount, consumers: ok.consumerCount };
  }

  /**
   * Runs `fn` on a confirm channel of its own on the current connection, and closes that channel
   * afterwards (also when `fn` throws). The channel's failures stay its own: it does not take the
   * connection down as the main channel does. For short exchanges (a request and its replies).
   * @throws CmqError `CMQ_ERR_BROKER_UNAVAILABLE` (transient) when not connected.
   */
  async withChannel<T>(fn: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
    const model = this.model;
    if (model === undefined || this.channel === undefined)
      throw new CmqError('CMQ_ERR_BROKER_UNAVAILABLE', 'not connected to the broker', { transient: true });
    const channel = await model.createConfirmChannel();
    channel.on('error', (err: Error) => this.opts.logger.warn({ err }, 'broker channel error (own channel)'));
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /**
   * Adds a setup step (start consumers...) that runs now if connected, and after the topology
   * on every later (re)connection.
   */
  async addSetup(setup: (channel: ConfirmChannel) => Promise<void>): Promise<void> {
    this.extraSetups.push(setup);
    if (this.channel !== undefined) await setup(this.channel);
  }

  /**
   * Closes the current connection so that everything is set up again on a new one. With
   * `deadlineMs`, a close the broker does not answer in time (it stopped reading the connection)
   * ends with the socket destroyed; either way what waited for a confirm on it fails then.
   */
  reconnect(deadlineMs?: number): void {
    const model = this.model;
    if (model === undefined) return;
    // Not connected from now on: until the close is answered (up to deadlineMs when the broker
    // does not read), a publish would fail with amqplib's "Connection closing" and count as a
    // family's failure; "not connected" is what callers wait out quietly.
    this.channel = undefined;
    // With an error: amqplib learns of a socket's end from 'error' or 'end', never from 'close'.
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(
            () => socketOf(model)?.destroy(new Error(`the broker did not answer the close within ${deadlineMs} ms`)),
            deadlineMs,
          ).unref();
    void model
      .close()
      .catch(() => undefined)
      .finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    this.abort.abort();
    const model = this.model;
    this.closing = model;
    this.model = undefined;
    this.channel = undefined;
    if (model) {
      try {
        await model.close();
      } catch (err) {
        this.opts.logger.debug({ err }, 'broker connection already closed');
      }
    }
    await this.loop;
  }

  destroy(): void {
    this.abort.abort();
    // Also the connection close() is closing: a blocked broker never answers its close.
    socketOf(this.model ?? this.closing)?.destroy();
  }

  private async connectLoop(onFirst: () => void): Promise<void> {
    let first = true;
    const urls = this.opts.config.urls;
    while (!this.abort.signal.aborted) {
      const url = urls[this.attempt % urls.length] as string;
      this.attempt += 1;
      try {
        const { model, closed } = await this.connect(url);
        if (this.abort.signal.aborted) {
          // close() ran while this connection was being opened, so it could not close it.
          await model.close().catch(() => undefined);
          return;
        }
        this.attempt = 0;
        this.opts.status.set(this.name, undefined);
        if (first) {
          first = false;
          onFirst();
        }
        const reason = await closed;
        if (this.abort.signal.aborted) return;
        this.opts.status.set(this.name, `waiting for broker at ${brokerLabel(url)} (connection lost: ${reason})`);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.opts.status.set(this.name, `waiting for broker at ${brokerLabel(url)} (${errorText(err)})`);
      }
      const { initial_delay: initial, max_delay: max } = this.opts.config.reconnect;
      await sleep(backoffDelay(this.attempt, initial, max), this.abort.signal);
    }
  }

  private setBlocked(reason: string | undefined): void {
    this.blockedReason = reason;
    this.opts.status.set(`${this.name}-flow`, reason === undefined ? undefined : blockedText(reason));
  }

  /** Opens a connection and channel, runs setup; `closed` resolves with the reason it closed. */
  private async connect(url: string): Promise<{ model: ChannelModel; closed: Promise<string> }> {
    const model = await amqp.connect(
      connectOptions(this.opts.config, url),
      socketOptions(this.opts.config, this.opts.connectionName, url),
    );
    coalesceWrites(model);
    const closed = new Promise<string>((resolve) => {
      model.on('error', (err: Error) => this.opts.logger.warn({ err }, 'broker connection error'));
      model.on('close', (err?: Error) => {
        this.model = undefined;
        this.channel = undefined;
        this.setBlocked(undefined); // a new connection is told afresh
        resolve(err ? errorText(err) : 'closed');
      });
    });
    model.on('blocked', (reason: string) => this.setBlocked(reason));
    model.on('unblocked', () => this.setBlocked(undefined));
    this.model = model;
    try {
      const channel = await model.createConfirmChannel();
      channel.on('error', (err: Error) => this.opts.logger.warn({ err }, 'broker channel error'));
      // A channel closed by the broker (e.g. a precondition failure) takes the connection
      // with it, so that the whole setup runs again on a new one.
      channel.on('close', () => {
        if (this.model === model) void model.close().catch(() => undefined);
      });
      await this.opts.setup(channel);
      for (const extra of this.extraSetups) await extra(channel);
      this.channel = channel;
    } catch (err) {
      await model.close().catch(() => undefined);
      throw err;
    }
    this.opts.logger.info({ broker: brokerLabel(url) }, 'connected to broker');
    return { model, closed };
  }
}
