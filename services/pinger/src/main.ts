#!/usr/bin/env node
import { type ServiceDefinition, VERSION, startService } from '@cmq/common';
import { type PingerConfig, pingerFile } from './config';

/** The pinger process: see services/pinger/README.md for what it consumes and produces. */
const definition: ServiceDefinition<PingerConfig> = {
  service: 'pinger',
  version: VERSION,
  ownFile: pingerFile,
  components: () => [],
  heartbeatStats: () => ({ queues: [], inFlight: 0, processed: 0, failed: 0 }),
  runningStatus: () => 'running: broker, database and redis connected',
};

startService(definition, process);
