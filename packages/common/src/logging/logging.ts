import { hostname } from 'node:os';
import pino from 'pino';
import { LogRouter } from './log-router';
import { REDACTED, REDACT_PATHS } from './redaction';

export type Logger = pino.Logger;

export interface LoggingOptions {
  dir: string;
  service: string;
  name: string;
  level: string;
  /** Extra redaction paths beyond the standard secret names. */
  redact?: string[];
}

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
      redact: { paths: [...REDACT_PATHS, ...(opts.redact ?? [])], censor: REDACTED },
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
