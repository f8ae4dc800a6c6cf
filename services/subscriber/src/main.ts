#!/usr/bin/env node
import { hostname } from 'node:os';
import { AmqpClient, type ServiceDefinition, VERSION, declareTopology, startService } from '@cmq/common';
import { type SubscriberConfig, subscriberFile } from '@cmq/config';
import { Subscriber } from './subscriber';

let subscriber: Subscriber | undefined;

/** The subscriber process: see services/subscriber/README.md for what it consumes and produces. */
const definition: ServiceDefinition<SubscriberConfig> = {
  service: 'subscriber',
  version: VERSION,
  ownFile: subscriberFile,
  components: ({ config, database, amqp, redis, logging, coordinator, metrics, reporter }) => {
    // Dead copies go out on a connection of their own (see SubscriberDeps.publisher).
    const publisher = new AmqpClient({
      name: 'amqp-publish',
      config: config.amqp,
      connectionName: `cmq-subscriber-${config.own.name}@${hostname()}:${process.pid} publish`,
      logger: logging.logger.child({ component: 'amqp-publish' }),
      status: coordinator.status,
      setup: declareTopology,
    });
    subscriber = new Subscriber({
      config,
      database,
      amqp,
      publisher,
      redis,
      logger: logging.logger.child({ component: 'subscriber' }),
      status: coordinator.status,
      metrics,
      reporter,
    });
    return [publisher, subscriber];
  },
  heartbeatStats: (config) => ({
    queues: config.own.queues,
    inFlight: subscriber?.inFlight ?? 0,
    processed: subscriber?.processed ?? 0,
    failed: subscriber?.failed ?? 0,
  }),
  runningStatus: (config) => `running: consuming ${config.own.queues.map((q) => `cmq.${q}`).join(', ')}`,
};

startService(definition, process);
