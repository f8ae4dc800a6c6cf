#!/usr/bin/env node
import { type ServiceDefinition, VERSION, startService } from '@cmq/common';
import { type SubscriberConfig, subscriberFile } from './config';

/** The subscriber process: see services/subscriber/README.md for what it consumes and produces. */
const definition: ServiceDefinition<SubscriberConfig> = {
  service: 'subscriber',
  version: VERSION,
  ownFile: subscriberFile,
  components: () => [],
  heartbeatStats: (config) => ({ queues: config.own.queues, inFlight: 0, processed: 0, failed: 0 }),
  runningStatus: (config) => `running: queues ${config.own.queues.join(',')}`,
};

startService(definition, process);
