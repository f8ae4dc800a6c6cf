import type { FileSpec } from './file-spec';
import { bool, checkAmqpUrl, duration, list, nonEmpty, optionalPath, text } from './formats';
import { checkTlsFiles } from './referenced-files';
import { certNeedsKey } from './tls-keys';

export interface MqConfig {
  amqp: {
    urls: string[];
    vhost: string;
    heartbeat: number;
    connect_timeout: number;
    reconnect: { initial_delay: number; max_delay: number };
    /** `external` is optional for configs built in code (tests, tools); the loader always sets it. */
    tls: { ca: string; cert: string; key: string; passphrase: string; external?: boolean };
  };
}

export const mqFile: FileSpec<MqConfig> = {
  file: 'mq.cfg',
  title: 'RabbitMQ broker connection, shared by every process.',
  envPrefix: 'CMQ_',
  schema: {
    amqp: {
      urls: {
        doc: 'Broker URLs, comma-separated; several for a cluster, tried in turn. amqps:// for TLS. Credentials in the URL are masked in every output.',
        format: list('amqp-url', checkAmqpUrl),
        default: ['amqp://guest:guest@127.0.0.1:5672'],
        sensitive: true,
      },
      vhost: { doc: 'Virtual host.', format: nonEmpty, default: '/' },
      heartbeat: {
        doc: 'AMQP heartbeat interval (0 turns heartbeats off).',
        format: duration(0, 600_000),
        default: 30_000,
      },
      connect_timeout: {
        doc: 'Time allowed for one connection attempt.',
        format: duration(100, 300_000),
        default: 10_000,
      },
      reconnect: {
        initial_delay: {
          doc: 'First delay before reconnecting after a lost connection (doubles, with jitter).',
          format: duration(10, 600_000),
          default: 200,
        },
        max_delay: {
          doc: 'Longest delay between reconnection attempts.',
          format: duration(100, 3_600_000),
          default: 30_000,
        },
      },
      tls: {
        ca: {
          doc: 'CA certificate(s) (PEM) that signed the broker certificate; empty = system CAs. Must exist and parse at start.',
          format: optionalPath,
          default: '',
        },
        cert: {
          doc: 'Client certificate (PEM) for amqps:// with client authentication. Must exist and parse at start.',
          format: optionalPath,
          default: '',
        },
        key: {
          doc: 'Client private key (PEM) for amqps://. Must exist, open with amqp.tls.passphrase and match amqp.tls.cert at start.',
          format: optionalPath,
          default: '',
        },
        passphrase: { doc: 'Passphrase of the client private key.', format: text, default: '', sensitive: true },
        external: {
          doc: "Authenticate with the client certificate (SASL EXTERNAL: the broker user is the certificate's name; no password exists); needs amqp.tls.cert and amqps:// URLs.",
          format: bool,
          default: false,
        },
      },
    },
  },
  crossCheck: (v) => [
    ...certNeedsKey('amqp.tls', v.amqp.tls),
    ...(v.amqp.tls.external && v.amqp.tls.cert === ''
      ? [['amqp.tls.cert', 'must be set when amqp.tls.external is on'] as [string, string]]
      : []),
    ...(v.amqp.tls.external && v.amqp.urls.some((u) => !u.startsWith('amqps:'))
      ? [['amqp.urls', 'must all be amqps:// when amqp.tls.external is on'] as [string, string]]
      : []),
  ],
  checkFiles: (v) => checkTlsFiles('amqp.tls', v.amqp.tls),
};
