import { FAMILIES, type FileSpec, type ProcessKeys, duration, integer, listOf, processKeys } from '@cmq/common';
import type { Family } from '@cmq/common';

export interface SubscriberConfig extends ProcessKeys {
  queues: Family[];
  concurrency: number;
  prefetch: number;
  action: { timeout: number };
  max_body_bytes: number;
  retry: {
    initial_delay: number;
    max_delay: number;
    max_throttled: number;
    max_outages: number;
    outage_max_delay: number;
  };
}

/**
 * `subscriber.properties` (or `subscriber-NAME.properties` for `--instance NAME`). Instance
 * `default` is `subscriber.properties`, so that `cmq-subscriber@default.service` runs the
 * subscriber the init script starts without `--instance`.
 */
export function subscriberFile(instance?: string): FileSpec<SubscriberConfig> {
  const plain = instance === undefined || instance === 'default';
  return {
    file: plain ? 'subscriber.properties' : `subscriber-${instance}.properties`,
    title: 'One subscriber process: the queues it consumes, its concurrency, logs, shutdown.',
    envPrefix: 'CMQ_SUBSCRIBER_',
    schema: {
      ...processKeys(instance ?? 'default'),
      queues: {
        doc: `Families whose queues this subscriber consumes, comma-separated (like celery worker -Q): ${FAMILIES.join(', ')}.`,
        format: listOf(FAMILIES),
        default: [...FAMILIES],
      },
      concurrency: { doc: 'Actions run at once.', format: integer(1, 1000), default: 16 },
      prefetch: {
        doc: 'Unacknowledged deliveries the broker may send ahead (at least concurrency).',
        format: integer(1, 10_000),
        default: 32,
      },
      action: {
        timeout: {
          doc: 'Time limit of one handler run: its AbortSignal fires then and the attempt counts as a transient failure.',
          format: duration(100, 3_600_000),
          default: 60_000,
        },
      },
      max_body_bytes: {
        doc: 'Largest message body accepted; a larger one is dead-lettered unread.',
        format: integer(1024, 64 * 1024 * 1024),
        default: 256 * 1024,
      },
      retry: {
        initial_delay: {
          doc: 'Delay before the first retry of a transient failure (doubles each attempt, with jitter).',
          format: duration(10, 3_600_000),
          default: 1_000,
        },
        max_delay: { doc: 'Longest delay between retries.', format: duration(10, 86_400_000), default: 600_000 },
        max_throttled: {
          doc: "Runs of one action that a cloud provider's rate limit may send back without counting them as attempts; later throttled runs count as attempts, so that throttling cannot retry an action for ever.",
          format: integer(0, 10_000),
          default: 20,
        },
        max_outages: {
          doc: 'Runs of one action that an outage of Redis or PostgreSQL may hold back without counting them as attempts; later such runs count as attempts, so that a dependency that never comes back cannot retry an action for ever.',
          format: integer(0, 10_000),
          default: 20,
        },
        outage_max_delay: {
          doc: 'Longest wait before an action held back by an outage runs again (from retry.initial_delay, doubling with each outage run, with jitter): long enough to outlast a real outage without anyone polling it.',
          format: duration(10, 86_400_000),
          default: 300_000,
        },
      },
    },
    crossCheck: (v) =>
      v.prefetch < v.concurrency ? [['prefetch', `must be at least concurrency (${v.concurrency})`]] : [],
  };
}
