import { type FileSpec, type ProcessKeys, processKeys } from '@cmq/common';

export type PublisherConfig = ProcessKeys;

/** `publisher.properties` (or `publisher-NAME.properties` for `--instance NAME`). */
export function publisherFile(instance?: string): FileSpec<PublisherConfig> {
  return {
    file: instance === undefined ? 'publisher.properties' : `publisher-${instance}.properties`,
    title: 'The publisher process: name, logs, heartbeat, shutdown.',
    envPrefix: 'CMQ_PUBLISHER_',
    schema: processKeys(instance ?? 'main'),
  };
}
