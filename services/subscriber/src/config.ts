import { FAMILIES, type FileSpec, type ProcessKeys, duration, integer, listOf, processKeys } from '@cmq/common';
import type { Family } from '@cmq/common';

export interface SubscriberConfig extends ProcessKeys {
  queues: Family[];
  concurrency: number;
  prefetch: number;
  action: { timeout: number };
}

/** `subscriber.properties` (or `subscriber-NAME.properties` for `--instance NAME`). */
export function subscriberFile(instance?: string): FileSpec<SubscriberConfig> {
  return {
    file: instance === undefined ? 'subscriber.properties' : `subscriber-${instance}.properties`,
    title: 'One subscriber process: the queues it consumes, its concurrency, logs, shutdown.',
    envPrefix: 'CMQ_SUBSCRIBER_',
    schema: {
      ...processKeys(instance ?? 'default'),
      queues: { doc: `Families whose queues this subscriber consumes, comma-separated (like celery worker -Q): ${FAMILIES.join(', ')}.`, format: listOf(FAMILIES), default: [...FAMILIES] },
      concurrency: { doc: 'Actions run at once.', format: integer(1, 1000), default: 16 },
      prefetch: { doc: 'Unacknowledged deliveries the broker may send ahead (at least concurrency).', format: integer(1, 10_000), default: 32 },
      action: { timeout: { doc: 'Default time limit of one handler run (its AbortSignal fires then).', format: duration(100, 3_600_000), default: 60_000 } },
    },
    crossCheck: (v) => (v.prefetch < v.concurrency ? [['prefetch', `must be at least concurrency (${v.concurrency})`]] : []),
  };
}
