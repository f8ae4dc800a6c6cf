import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { CmqError, errorText } from '../errors';
import type { MqConfig } from '../config/shared-files';
import type { Logger } from '../logging/logging';
import type { Component, StatusBoard } from '../lifecycle/component';
import { backoffDelay, sleep } from '../lifecycle/timing';

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

/** `amqp://host:port` without credentials, for messages. */
export function brokerLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(unparsable broker URL)';
  }
}

/**
 * Makes amqplib write each round of outgoing frames with one system call. amqplib queues every
 * frame (a publish, an ack) on its channel's stream and, on the next turn of the event loop,
 * its multiplexer writes them to the socket one `write` each: one system call, and one TCP
 * segment for the broker to read, per message. Corking the socket for that round makes Node
 * hand the whole round to the kernel at once (writev). Nothing else changes: same frames, same
 * order. If amqplib's internals are not where this expects (another version), nothing is done.
 */
function coalesceWrites(model: ChannelModel): void {
  type Muxer = { out?: { cork?: () => void; uncork?: () => void }; _readIncoming?: () => void };
  const muxer = (model as unknown as { connection?: { muxer?: Muxer } }).connection?.muxer;
  const out = muxer?.out;
  const readIncoming = muxer?._readIncoming;
  if (
    muxer === undefined ||
    typeof readIncoming !== 'function' ||
    typeof out?.cork !== 'function' ||
    typeof out.uncork !== 'function'
  )
    return;
  const cork = out.cork.bind(out);
  const uncork = out.uncork.bind(out);
  muxer._readIncoming = function coalesced(this: Muxer): void {
    cork();
    try {
      readIncoming.call(this);
    } finally {
      uncork();
    }
  };
}

/** A publish the broker refused (nacked), as opposed to one it never answered for. */
export class PublishRefused extends CmqError {}

/** The socket under an amqplib connection (not in its types). */
function socketOf(model: ChannelModel | undefined): { destroy(err?: Error): void } | undefined {
  return (model as unknown as { connection?: { stream?: { destroy(err?: Error): void } } } | undefined)?.connection
    ?.stream;
}

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

  /** Opens a connection and channel, runs setup; `closed` resolves with the reason it closed. */
  private setBlocked(reason: string | undefined): void {
    this.blockedReason = reason;
    this.opts.status.set(`${this.name}-flow`, reason === undefined ? undefined : blockedText(reason));
  }

  private async connect(url: string): Promise<{ model: ChannelModel; closed: Promise<string> }> {
    const model = await amqp.connect(this.connectOptions(url), this.socketOptions(url));
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

  private connectOptions(url: string): Options.Connect {
    const u = new URL(url);
    const tls = u.protocol === 'amqps:';
    return {
      protocol: tls ? 'amqps' : 'amqp',
      hostname: u.hostname,
      port: u.port === '' ? (tls ? 5671 : 5672) : Number(u.port),
      username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
      password: u.password === '' ? 'guest' : decodeURIComponent(u.password),
      vhost: this.opts.config.vhost,
      heartbeat: Math.round(this.opts.config.heartbeat / 1000),
    };
  }

  private socketOptions(url: string): Record<string, unknown> {
    const { tls } = this.opts.config;
    const options: Record<string, unknown> = {
      timeout: this.opts.config.connect_timeout,
      clientProperties: { connection_name: this.opts.connectionName },
    };
    if (url.startsWith('amqps:')) {
      if (tls.ca !== '') options.ca = [readFileSync(tls.ca)];
      if (tls.cert !== '') options.cert = readFileSync(tls.cert);
      if (tls.key !== '') options.key = readFileSync(tls.key);
      if (tls.passphrase !== '') options.passphrase = tls.passphrase;
      // SASL EXTERNAL: the broker takes the user from the client certificate; no password is sent.
      if (tls.external) options.credentials = amqp.credentials.external();
    }
    return options;
  }
}
