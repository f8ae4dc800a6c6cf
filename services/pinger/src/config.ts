import { type FileSpec, type ProcessKeys, processKeys } from '@cmq/common';

export type PingerConfig = ProcessKeys;

/** `pinger.properties` (or `pinger-NAME.properties` for `--instance NAME`). */
export function pingerFile(instance?: string): FileSpec<PingerConfig> {
  return {
    file: instance === undefined ? 'pinger.properties' : `pinger-${instance}.properties`,
    title: 'The pinger process: name, logs, heartbeat, shutdown.',
    envPrefix: 'CMQ_PINGER_',
    schema: processKeys(instance ?? 'main'),
  };
}
