import type { FileSpec } from './file-spec';
import {
  bool,
  checkAmqpUrl,
  checkCidr,
  decimal,
  duration,
  integer,
  list,
  nonEmpty,
  oneOf,
  optionalPath,
  optionalUserName,
  path,
  text,
} from './formats';
import { checkKeysFile, checkTlsFiles } from './referenced-files';

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

export interface DbConfig {
  db: {
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
    pool: { max: number };
    statement_timeout: number;
    connect_timeout: number;
    /** Optional for configs built in code (tests, tools): absent means {@link DB_SSL_OFF}; the loader always sets it. */
    ssl?: DbSsl;
  };
}

export const DB_SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type DbSslMode = (typeof DB_SSL_MODES)[number];
export interface DbSsl {
  mode: DbSslMode;
  ca: string;
  cert: string;
  key: string;
}
/** `db.ssl.*` as its defaults: no TLS. */
export const DB_SSL_OFF: DbSsl = Object.freeze({ mode: 'disable', ca: '', cert: '', key: '' });

/** A client certificate without its key is a mistake the loader names. */
function certNeedsKey(prefix: string, tls: { cert: string; key: string }): Array<[string, string]> {
  return tls.cert !== '' && tls.key === '' ? [[`${prefix}.key`, `must be set when ${prefix}.cert is set`]] : [];
}

/** Client CA, certificate and key keys (`db.ssl.*`, `redis.tls.*`), each checked at start. */
function tlsFileKeys(what: string) {
  return {
    ca: {
      doc: `CA certificate(s) (PEM) that signed the ${what} server's certificate; empty = system CAs. Must exist, parse and be valid at start.`,
      format: optionalPath,
      default: '',
    },
    cert: {
      doc: `Client certificate (PEM) presented to ${what}. Must exist, parse and be valid at start.`,
      format: optionalPath,
      default: '',
    },
    key: {
      doc: `Client private key (PEM, unencrypted) of the certificate. Must exist, parse and match the certificate at start.`,
      format: optionalPath,
      default: '',
    },
  };
}

export const workerFile: FileSpec<DbConfig> = {
  file: 'worker.properties',
  title: 'PostgreSQL, the system of record, shared by every process.',
  envPrefix: 'CMQ_',
  schema: {
    db: {
      host: { doc: 'PostgreSQL host name, address or unix socket directory.', format: nonEmpty, default: '127.0.0.1' },
      port: { doc: 'PostgreSQL port.', format: integer(1, 65535), default: 5432 },
      database: { doc: 'Database name.', format: nonEmpty, default: 'cmq' },
      user: { doc: 'Database user.', format: nonEmpty, default: 'postgres' },
      password: {
        doc: 'Database password (empty for trust or peer authentication).',
        format: text,
        default: '',
        sensitive: true,
      },
      pool: { max: { doc: 'Connections in the pool of each process.', format: integer(1, 500), default: 10 } },
      statement_timeout: {
        doc: 'Longest a single SQL statement may run.',
        format: duration(100, 3_600_000),
        default: 30_000,
      },
      connect_timeout: {
        doc: 'Time allowed for one connection attempt.',
        format: duration(100, 300_000),
        default: 10_000,
      },
      ssl: {
        mode: {
          doc: 'TLS to PostgreSQL: disable; require (encrypted, server not verified); verify-ca (server certificate signed by db.ssl.ca); verify-full (and its name matches db.host).',
          format: oneOf(DB_SSL_MODES),
          default: 'disable',
        },
        ...tlsFileKeys('PostgreSQL'),
      },
    },
  },
  crossCheck: ({ db: { ssl = DB_SSL_OFF } }) => [
    ...certNeedsKey('db.ssl', ssl),
    ...(ssl.mode === 'disable' && (ssl.ca !== '' || ssl.cert !== '')
      ? [
          ['db.ssl.mode', 'is disable, yet db.ssl.ca or db.ssl.cert is set (require, verify-ca or verify-full?)'] as [
            string,
            string,
          ],
        ]
      : []),
  ],
  checkFiles: (v) => checkTlsFiles('db.ssl', v.db.ssl ?? DB_SSL_OFF),
};

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

export interface KmConfig {
  km: { keys_file: string; active_key_id: string };
}

export const kmFile: FileSpec<KmConfig> = {
  file: 'km-client.cfg',
  title: 'Key management: the keys that encrypt cloud credentials and SSH keys at rest.',
  envPrefix: 'CMQ_',
  schema: {
    km: {
      keys_file: {
        doc: 'File of encryption keys, one "id=base64 of 32 random bytes" per line; readable by the cmq user only. Must exist, parse and hold km.active_key_id at start.',
        format: optionalPath,
        default: '',
      },
      active_key_id: {
        doc: 'Id of the key that encrypts new secrets; older ids keep decrypting until rotation is done.',
        format: text,
        default: '',
      },
    },
  },
  crossCheck: (v) =>
    v.km.keys_file !== '' && v.km.active_key_id === ''
      ? [['km.active_key_id', 'must be set when km.keys_file is set']]
      : [],
  checkFiles: (v) => checkKeysFile(v.km),
};

export interface ProvisioningConfig {
  mode: 'passive' | 'static' | 'dynamic';
  SOURCE_CIDR: string[];
  cloud: {
    default_provider: 'local' | 'ec2';
    rate: number;
    burst: number;
    local: { state_dir: string; ssh_port: number; forget_after: number; login_user: string };
  };
  ssh: {
    strict_host_keys: boolean;
    connect_timeout: number;
    keepalive_interval: number;
    command_timeout: number;
    output_cap: number;
    per_host_limit: number;
  };
}

export const provisioningFile: FileSpec<ProvisioningConfig> = {
  file: 'provisioning.cfg',
  title: 'Operating mode, allowed networks, SSH and cloud provider defaults.',
  envPrefix: 'CMQ_',
  schema: {
    mode: {
      doc: 'passive: monitoring only; static: plus worker processes on registered nodes over SSH; dynamic: plus cloud servers (launch, terminate, reboot).',
      format: oneOf(['passive', 'static', 'dynamic']),
      default: 'dynamic',
    },
    SOURCE_CIDR: {
      doc: 'Networks SSH targets must be in, comma-separated CIDRs; anything else is refused before a packet is sent.',
      format: list('cidr', checkCidr),
      default: ['127.0.0.0/8'],
    },
    cloud: {
      default_provider: {
        doc: 'Provider of accounts added without --provider.',
        format: oneOf(['local', 'ec2']),
        default: 'local',
      },
      rate: {
        doc: 'Provider API calls per second per cloud account (a token bucket in Redis shared by every subscriber); `cmq accounts add --rate` overrides it per account.',
        format: decimal(0.01, 10_000),
        default: 5,
      },
      burst: {
        doc: 'Calls a cloud account may make at once after a quiet spell (the bucket size); `cmq accounts add --burst` overrides it per account.',
        format: integer(1, 100_000),
        default: 10,
      },
      local: {
        state_dir: {
          doc: "Where the local cloud driver keeps its servers (sshd configs, host keys, homes): the provider's own state, not cmq's database.",
          format: path,
          default: '/var/lib/cmq-workers/local-cloud',
        },
        ssh_port: {
          doc: "Port the local driver's servers listen on, each on its own 127.0.0.0/8 address.",
          format: integer(1, 65535),
          default: 2222,
        },
        forget_after: {
          doc: 'How long the local driver lists a terminated server (state terminated) before it forgets it, as EC2 does; a sync then records it gone.',
          format: duration(0, 7 * 24 * 3_600_000),
          default: 3_600_000,
        },
        login_user: {
          doc: "POSIX user the local driver's servers admit and run commands as, with a login shell; empty = the user running the subscriber (only a root subscriber can name another, which must be able to traverse state_dir). Root only when named: login_user=root. Its commands read what it can read (docs/cloud.md).",
          format: optionalUserName,
          default: '',
        },
      },
    },
    ssh: {
      strict_host_keys: {
        doc: 'Refuse hosts whose key is not already known (no trust on first use, even for guests the platform launched).',
        format: bool,
        default: false,
      },
      connect_timeout: {
        doc: 'Time allowed to connect and authenticate.',
        format: duration(100, 300_000),
        default: 10_000,
      },
      keepalive_interval: {
        doc: 'SSH keepalive interval; a connection is dropped after 3 unanswered keepalives (0 turns them off).',
        format: duration(0, 600_000),
        default: 15_000,
      },
      per_host_limit: {
        doc: 'Most SSH connections open at once to one host:port from one process; more wait their turn.',
        format: integer(1, 1000),
        default: 4,
      },
      command_timeout: {
        doc: 'Default limit for one remote command.',
        format: duration(100, 86_400_000),
        default: 60_000,
      },
      output_cap: {
        doc: 'Bytes of stdout and of stderr kept per command; the rest is dropped and the result marked truncated.',
        format: integer(1024, 64 * 1024 * 1024),
        default: 1024 * 1024,
      },
    },
  },
};

/** The files every process reads, in load order. */
export const SHARED_FILES: readonly FileSpec[] = [
  mqFile,
  workerFile,
  persistenceFile,
  kmFile,
  provisioningFile,
] as readonly FileSpec[];
