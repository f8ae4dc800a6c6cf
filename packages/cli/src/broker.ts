import { hostname } from 'node:os';
import { AmqpClient, type MqConfig, StatusBoard, declareTopology, mqFile, withDeadline } from '@cmq/common';
import pino from 'pino';
import { failure } from './command-error';
import { type Env, loadConfigFile } from './config-set';

/** Loads only `mq.cfg` from the configuration directory (ConfigError: exit 78). */
export function loadMqConfig(dirOption: string | undefined, env: Env): MqConfig['amqp'] {
  return loadConfigFile(dirOption, env, mqFile).amqp;
}

type PublishOptions = NonNullable<Parameters<AmqpClient['publish']>[3]>;

/**
 * Connects (trying every URL until `amqp.connect_timeout` has passed), publishes one message
 * with a confirm (waited for as long again: a broker blocked by a resource alarm confirms
 * nothing until it clears), and closes. Messages name the broker without its credentials.
 * @throws CommandFailed (exit 1) when no broker answered or confirmed in time.
 */
export async function publishOnce(
  config: MqConfig['amqp'],
  exchange: string,
  routingKey: string,
  body: Buffer,
  options: PublishOptions,
): Promise<void> {
  const status = new StatusBoard();
  const client = new AmqpClient({
    config,
    connectionName: `cmq-cli@${hostname()}:${process.pid}`,
    logger: pino({ level: 'silent' }),
    status,
    setup: declareTopology,
  });
  const give = AbortSignal.timeout(config.connect_timeout);
  try {
    await client.start(give);
    if (!client.connected)
      throw failure(
        `no broker answered within ${config.connect_timeout / 1000} s (mq.cfg amqp.urls, amqp.connect_timeout): ${status.summary() || 'not connected'}`,
      );
    await withDeadline(client.publish(exchange, routingKey, body, options), config.connect_timeout, () =>
      failure(
        `the broker did not confirm the message within ${config.connect_timeout / 1000} s${client.blockedNote()}; it may still arrive when the broker takes it`,
      ),
    );
  } finally {
    // A blocked broker does not read the connection's close either: wait a moment, then drop
    // the socket (a no-op once the close went through).
    await withDeadline(client.close(), 1_000, () => new Error('close not answered')).catch(() => undefined);
    client.destroy();
  }
}

/**
 * Connects to the broker of `mq.cfg` (within `amqp.connect_timeout`), runs `fn` with the client,
 * and closes it.
 * @throws CommandFailed (exit 1) when no broker answered in time.
 */
export async function withBroker<T>(config: MqConfig['amqp'], fn: (client: AmqpClient) => Promise<T>): Promise<T> {
  const status = new StatusBoard();
  const client = new AmqpClient({
    config,
    connectionName: `cmq-cli@${hostname()}:${process.pid}`,
    logger: pino({ level: 'silent' }),
    status,
    setup: declareTopology,
  });
  try {
    await client.start(AbortSignal.timeout(config.connect_timeout));
    if (!client.connected)
      throw failure(
        `no broker answered within ${config.connect_timeout / 1000} s (mq.cfg amqp.urls, amqp.connect_timeout): ${status.summary() || 'not connected'}`,
      );
    return await fn(client);
  } finally {
    await withDeadline(client.close(), 1_000, () => new Error('close not answered')).catch(() => undefined);
    client.destroy();
  }
}
