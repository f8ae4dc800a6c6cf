#!/usr/bin/env node
import { hostname } from 'node:os';
import { type ServiceDefinition, VERSION, startService } from '@cmq/common';
import { type PingerConfig, pingerFile } from '@cmq/config';
import { Pinger } from './pinger';
import { PingerMetrics } from './pinger-metrics';

let pinger: Pinger | undefined;

/** The pinger process: see services/pinger/README.md for what it consumes and produces. */
const definition: ServiceDefinition<PingerConfig> = {
  service: 'pinger',
  version: VERSION,
  ownFile: pingerFile,
  components: ({ config, database, redis, amqp, logging, metrics }) => {
    const { own } = config;
    const gauges = new PingerMetrics(metrics.registry);
    const logger = logging.logger.child({ component: 'pinger' });
    pinger = new Pinger({
      database,
      redis,
      amqp,
      logger,
      identity: `pinger:${own.name}@${hostname()}:${process.pid}`,
      config: own,
      onSummary: (summary) => {
        gauges.observe(summary);
        void gauges.refreshHeartbeats(redis).catch((err: unknown) => logger.debug({ err }, 'heartbeat ages not read'));
      },
    });
    return [pinger];
  },
  heartbeatStats: () => ({ queues: [], inFlight: 0, processed: pinger?.ticks ?? 0, failed: 0 }),
  runningStatus: () => `running: ${pinger?.holder === true ? 'holding the pinger lease' : 'standby or starting'}`,
};

startService(definition, process);
