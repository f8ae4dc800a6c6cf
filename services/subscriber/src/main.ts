#!/usr/bin/env node
import { type ServiceDefinition, VERSION, startService } from '@cmq/common';
import { type SubscriberConfig, subscriberFile } from './config';
import { Subscriber } from './subscriber';

let subscriber: Subscriber | undefined;

/** The subscriber process: see services/subscriber/README.md for what it consumes and produces. */
const definition: ServiceDefinition<SubscriberConfig> = {
  service: 'subscriber',
  version: VERSION,
  ownFile: subscriberFile,
  components: ({ config, database, amqp, redis, logging, coordinator, metrics }) => {
    subscriber = new Subscriber({ config, database, amqp, redis, logger: logging.logger.child({ component: 'subscriber' }), status: coordinator.status, metrics });
    return [subscriber];
  },
  heartbeatStats: (config) => ({ queues: config.own.queues, inFlight: subscriber?.inFlight ?? 0, processed: subscriber?.processed ?? 0, failed: subscriber?.failed ?? 0 }),
  runningStatus: (config) => `running: consuming ${config.own.queues.map((q) => `cmq.${q}`).join(', ')}`,
};

startService(definition, process);
