import type { FileSpec } from './file-spec';
import { duration, integer, nonEmpty, oneOf, text } from './formats';
import { checkTlsFiles } from './referenced-files';
import { certNeedsKey, tlsFileKeys } from './tls-keys';

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
