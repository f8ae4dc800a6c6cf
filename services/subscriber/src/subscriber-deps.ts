import type {
  AmqpClient,
  Database,
  ErrorReporter,
  Logger,
  MetricsFile,
  ProcessConfig,
  RedisClient,
  StatusBoard,
} from '@cmq/common';
import type { SubscriberConfig } from '@cmq/config';

/** What a subscriber is made of: its configuration and the process's shared components. */
export interface SubscriberDeps {
  config: ProcessConfig<SubscriberConfig>;
  database: Database;
  amqp: AmqpClient;
  /**
   * The connection dead copies are published on. Not `amqp`: a broker under a resource alarm
   * stops reading a connection that publishes, acks included, so one dead copy would stop this
   * subscriber's consuming (which is what relieves a memory alarm) until the alarm cleared.
   */
  publisher: AmqpClient;
  redis: RedisClient;
  logger: Logger;
  status: StatusBoard;
  metrics: MetricsFile;
  /** Where bugs and dead or failed actions are reported (`sentry.dsn`); none when absent. */
  reporter?: ErrorReporter;
}
