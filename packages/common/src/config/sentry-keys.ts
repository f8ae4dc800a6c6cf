import { makeDsn } from '@sentry/core';
import { duration, register, text } from './formats';

/** The `sentry.*` keys of every process's own file (docs/error-reporting.md). */
export interface SentryKeys {
  sentry: { dsn: string; environment: string; timeout: number };
}

/** A Sentry DSN (`<scheme>://<public key>@<host>/<project id>`), or empty for "off". */
export const sentryDsn = register('cmq-sentry-dsn', (v) => {
  if (typeof v !== 'string') throw new Error('must be a string');
  if (v !== '' && (!/^https?:\/\//.test(v) || makeDsn(v) === undefined))
    throw new Error('must be empty or a DSN: http(s)://<public key>@<host>/<project id>');
});

/** The error-reporting key group, composed into processKeys like log.* and heartbeat.*. */
export function sentryKeys() {
  return {
    sentry: {
      dsn: {
        doc: 'Where errors, dead actions and operator warnings are reported (a Sentry or compatible ingest DSN: http(s)://<public key>@<host>/<project id>). Empty: nothing is reported.',
        format: sentryDsn,
        default: '',
        sensitive: true,
      },
      environment: {
        doc: 'The environment every report is tagged with (production, staging...).',
        format: text,
        default: 'production',
      },
      timeout: {
        doc: 'How long one report may take to send before it is dropped (and counted in cmq_error_reports_dropped_total); reports never hold up an action.',
        format: duration(100, 60_000),
        default: 5_000,
      },
    },
  };
}
