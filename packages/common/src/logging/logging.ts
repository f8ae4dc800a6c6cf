import { hostname } from 'node:os';
import pino from 'pino';
import { LogRouter } from './log-router';

export type Logger = pino.Logger;

export interface LoggingOptions {
  dir: string;
  service: string;
  name: string;
  level: string;
  /** Extra redaction paths beyond the standard secret names. */
  redact?: string[];
}

/** Field names that hold secrets wherever they appear (top level or one level down). */
const SECRET_FIELDS = [
  'password',
  'passphrase',
  'secret',
  'secretAccessKey',
  'secret_access_key',
  'sessionToken',
  'session_token',
  'credentials',
  'privateKey',
  'private_key',
  'ssh_private_key',
  'sshPrivateKey',
  'token',
  'authorization',
];

export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]);

/** The root logger of a process and the file set behind it. */
export interface Logging {
  readonly logger: Logger;
  /** Reopens every log file (SIGHUP after logrotate). */
  reopen(): void;
  flushSync(): void;
  close(): Promise<void>;
}

/**
 * Builds the process's root logger writing JSON lines to `<dir>/<service>-<name>.log`, with
 * lines about a tenant also in `<dir>/tenants/<tenant>.log`. Secrets are redacted by path.
 */
export function createLogging(opts: LoggingOptions): Logging {
  const router = new LogRouter(opts.dir, `${opts.service}-${opts.name}.log`);
  const logger = pino(
    {
      level: opts.level,
      base: { service: opts.service, name: opts.name, pid: process.pid, hostname: hostname() },
      redact: { paths: [...REDACT_PATHS, ...(opts.redact ?? [])], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    router,
  );
  return {
    logger,
    reopen: () => router.reopen(),
    flushSync: () => router.flushSync(),
    close: () => router.close(),
  };
}
