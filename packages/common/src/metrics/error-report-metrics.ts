import { Counter, type Registry } from 'prom-client';
import type { ErrorReporter } from '../adapters/error-reporter';

/**
 * The error reporter's counts in the process's metrics file: reports the ingest accepted, and
 * reports dropped by reason (the ingest down, slow, refusing or rate-limiting, the queue full).
 */
export function registerErrorReportMetrics(registry: Registry, reporter: ErrorReporter): void {
  new Counter({
    name: 'cmq_error_reports_sent_total',
    help: 'Error reports (sentry.dsn) the ingest accepted.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(reporter.sent);
    },
  });
  new Counter({
    name: 'cmq_error_reports_dropped_total',
    help: 'Error reports (sentry.dsn) not delivered, by reason; actions never wait for them.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of reporter.dropped) this.inc({ reason }, count);
    },
  });
}
