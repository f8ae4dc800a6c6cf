import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import type { Options } from 'amqplib';
import type { MqConfig } from '../config/shared-files';

/** `amqp://host:port` without credentials, for messages. */
export function brokerLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(unparsable broker URL)';
  }
}

/** amqplib's connection options for one of mq.cfg's URLs (credentials from the URL, guest by default). */
export function connectOptions(config: MqConfig['amqp'], url: string): Options.Connect {
  const u = new URL(url);
  const tls = u.protocol === 'amqps:';
  return {
    protocol: tls ? 'amqps' : 'amqp',
    hostname: u.hostname,
    port: u.port === '' ? (tls ? 5671 : 5672) : Number(u.port),
    username: u.username === '' ? 'guest' : decodeURIComponent(u.username),
    password: u.password === '' ? 'guest' : decodeURIComponent(u.password),
    vhost: config.vhost,
    heartbeat: Math.round(config.heartbeat / 1000),
  };
}

/** The socket options of a connection to `url`: its timeout and name, and for amqps:// the TLS files of mq.cfg. */
export function socketOptions(config: MqConfig['amqp'], connectionName: string, url: string): Record<string, unknown> {
  const { tls } = config;
  const options: Record<string, unknown> = {
    timeout: config.connect_timeout,
    clientProperties: { connection_name: connectionName },
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
