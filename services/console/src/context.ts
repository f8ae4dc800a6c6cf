import type { Database, Logger, ProcessConfig, RedisClient, Registry } from '@cmq/common';
import type { ConsoleConfig } from '@cmq/config';
import type { LiveStreams } from './live-streams';

/** What every route reads from: the process's connections, configuration and open streams. */
export interface ConsoleContext {
  database: Database;
  redis: RedisClient;
  config: ProcessConfig<ConsoleConfig>;
  /** The configuration directory (the console reads pinger.properties' check thresholds from it). */
  configDir: string;
  logger: Logger;
  streams: LiveStreams;
  /** The process's Prometheus registry (its metrics file's), served at /metrics. */
  metrics: Registry;
}
