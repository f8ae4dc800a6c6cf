import type { FileSpec } from './file-spec';
import { bool, duration, integer, list, nonEmpty, oneOf, text } from './formats';
import { checkTlsFiles } from './referenced-files';
import { certNeedsKey, tlsFileKeys } from './tls-keys';

export interface RedisTls {
  enabled: boolean;
  ca: string;
  cert: string;
  key: string;
}
/** `redis.tls.*` as its defaults: no TLS. */
export const REDIS_TLS_OFF: RedisTls = Object.freeze({ enabled: false, ca: '', cert: '', key: '' });

export interface RedisConfig {
  redis: {
    mode: 'standalone' | 'sentinel';
    host: string;
    port: number;
    password: string;
    db: number;
    sentinels: string[];
    sentinel: { master_name: string };
    connect_timeout: number;
    /** Optional for configs built in code (tests, tools): absent means {@link REDIS_TLS_OFF}; the loader always sets it. */
    tls?: RedisTls;
  };
}

function checkHostPort(item: string): void {
  const m = /^([^:\s]+):(\d{1,5})$/.exec(item);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`"${item}" is not host:port`);
}

export const persistenceFile: FileSpec<RedisConfig> = {
  file: 'persistence.properties',
  title: 'Redis (cache, rate limits, heartbeats), standalone or Sentinel-managed.',
  envPrefix: 'CMQ_',
  schema: {
    redis: {
      mode: {
        doc: 'standalone (redis.host/redis.port) or sentinel (redis.sentinels).',
        format: oneOf(['standalone', 'sentinel']),
        default: 'standalone',
      },
      host: { doc: 'Redis host (standalone mode).', format: nonEmpty, default: '127.0.0.1' },
      port: { doc: 'Redis port (standalone mode).', format: integer(1, 65535), default: 6379 },
      password: { doc: 'Redis password (empty for none).', format: text, default: '', sensitive: true },
      db: { doc: 'Redis logical database number.', format: integer(0, 15), default: 0 },
      sentinels: {
        doc: 'Sentinel addresses, comma-separated host:port (sentinel mode).',
        format: list('host-port', checkHostPort, 0),
        default: [],
      },
      sentinel: {
        master_name: { doc: 'Name of the master the Sentinels watch.', format: nonEmpty, default: 'mymaster' },
      },
      connect_timeout: {
        doc: 'Time allowed for one connection attempt.',
        format: duration(100, 300_000),
        default: 10_000,
      },
      tls: {
        enabled: {
          doc: 'TLS to Redis (and to the Sentinels in sentinel mode), the server verified against redis.tls.ca.',
          format: bool,
          default: false,
        },
        ...tlsFileKeys('Redis'),
      },
    },
  },
  crossCheck: (v) => [
    ...(v.redis.mode === 'sentinel' && v.redis.sentinels.length === 0
      ? [['redis.sentinels', 'must list at least one host:port when redis.mode=sentinel'] as [string, string]]
      : []),
    ...certNeedsKey('redis.tls', v.redis.tls ?? REDIS_TLS_OFF),
    ...(v.redis.tls?.enabled === false && (v.redis.tls.ca !== '' || v.redis.tls.cert !== '')
      ? [['redis.tls.enabled', 'is off, yet redis.tls.ca or redis.tls.cert is set'] as [string, string]]
      : []),
  ],
  checkFiles: (v) => checkTlsFiles('redis.tls', v.redis.tls ?? REDIS_TLS_OFF),
};
