import { duration, integer, nonEmpty, oneOf, path } from './formats';
import { type SentryKeys, sentryKeys } from './sentry-keys';

export interface ProcessKeys extends SentryKeys {
  name: string;
  log: { dir: string; level: string };
  heartbeat: { interval: number };
  shutdown: { drain_timeout: number };
  metrics: { dir: string; interval: number };
  tls: { expiry_warning_days: number };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** The keys every process's own properties file has. */
export function processKeys(defaultName: string) {
  return {
    name: {
      doc: 'Name of this process: in its log file name, pid file, heartbeats and `cmq status`.',
      format: nonEmpty,
      default: defaultName,
    },
    log: {
      dir: {
        doc: 'Directory of <service>-<name>.log and tenants/<tenant>.log.',
        format: path,
        default: '/var/log/cmq-workers',
      },
      level: { doc: 'Least severe level written.', format: oneOf(LOG_LEVELS), default: 'info' },
    },
    heartbeat: {
      interval: {
        doc: 'How often this process writes its heartbeat to Redis and its log.',
        format: duration(200, 300_000),
        default: 2_000,
      },
    },
    shutdown: {
      drain_timeout: {
        doc: 'After SIGTERM, how long in-flight work may take before the process exits anyway (exit 1, nothing lost).',
        format: duration(0, 3_600_000),
        default: 30_000,
      },
    },
    metrics: {
      dir: {
        doc: "Directory of <service>-<name>.prom (Prometheus text format, for node_exporter's textfile collector).",
        format: path,
        default: '/var/lib/cmq-workers/metrics',
      },
      interval: { doc: 'How often the metrics file is rewritten.', format: duration(200, 300_000), default: 15_000 },
    },
    ...sentryKeys(),
    tls: {
      expiry_warning_days: {
        doc: 'Days before a certificate named in amqp.tls.*, db.ssl.* or redis.tls.* expires that the process warns (log, heartbeat, cmq check); 0 = never. An expired one stops it at start (exit 78).',
        format: integer(0, 3650),
        default: 14,
      },
    },
  };
}
