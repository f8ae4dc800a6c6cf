#!/usr/bin/env node
import { type ServiceDefinition, VERSION, startService } from '@cmq/common';
import { type PublisherConfig, publisherFile } from './config';

/** The publisher process: see services/publisher/README.md for what it consumes and produces. */
const definition: ServiceDefinition<PublisherConfig> = {
  service: 'publisher',
  version: VERSION,
  ownFile: publisherFile,
  components: () => [],
  heartbeatStats: () => ({ queues: [], inFlight: 0, processed: 0, failed: 0 }),
  runningStatus: () => 'running: broker, database and redis connected',
};

startService(definition, process);
