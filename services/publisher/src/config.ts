import { type FileSpec, type ProcessKeys, duration, integer, processKeys } from '@cmq/common';

export interface PublisherConfig extends ProcessKeys {
  relay: { batch_size: number; window: number; tenant_cap: number; sweep_interval: number };
}

/** `publisher.properties` (or `publisher-NAME.properties` for `--instance NAME`). */
export function publisherFile(instance?: string): FileSpec<PublisherConfig> {
  return {
    file: instance === undefined ? 'publisher.properties' : `publisher-${instance}.properties`,
    title: 'The publisher process: the relay (outbox to broker), logs, heartbeat, shutdown.',
    envPrefix: 'CMQ_PUBLISHER_',
    schema: {
      ...processKeys(instance ?? 'main'),
      relay: {
        batch_size: { doc: 'Most actions the relay moves onto the broker in one transaction.', format: integer(1, 10_000), default: 500 },
        window: { doc: 'Most actions of one queue family queued or running at once; the backlog waits in PostgreSQL. Size it from the consumers\' prefetch.', format: integer(1, 1_000_000), default: 1000 },
        tenant_cap: { doc: 'Most actions of one tenant in one family queued or running at once, so no tenant starves another.', format: integer(1, 1_000_000), default: 200 },
        sweep_interval: { doc: 'How often the relay looks for due work when no notification woke it (retries and countdowns coming due).', format: duration(50, 60_000), default: 1_000 },
      },
    },
  };
}
