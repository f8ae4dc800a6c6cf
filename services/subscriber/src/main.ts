#!/usr/bin/env node
import { hostname } from 'node:os';
import { AmqpClient, type ServiceDefinition, VERSION, declareTopology, startService } from '@cmq/common';
import { type SubscriberConfig, subscriberFile } from '@cmq/config';
import { ControlListener } from './control-listener';
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
    const pauses = subscriber.pauses;
    // On the publishing connection: its channel has no consumer whose acks a control queue's
    // deliveries could confuse, and it stays open until the drain is over (pings answered).
    // Started before consuming: a broker that blocks publishing stops reading a connection once
    // it has published (a dead copy), and the listener's declarations would then never finish.
    const control = new ControlListener({
      client: publisher,
      pauses,
      drain: (reason) => coordinator.requestStop(reason),
      identity: () => ({
        service: 'subscriber',
        name: config.own.name,
        host: hostname(),
        pid: process.pid,
        version: VERSION,
        state: coordinator.state,
        queues: pauses.consuming,
        paused: pauses.byFamily,
      }),
      logger: logging.logger.child({ component: 'control' }),
    });
    return [publisher, control, subscriber];
  },
  heartbeatStats: (config) => ({
    queues: subscriber?.pauses.consuming ?? config.own.queues,
    paused: subscriber?.pauses.byFamily,
    inFlight: subscriber?.inFlight ?? 0,
    processed: subscriber?.processed ?? 0,
    failed: subscriber?.failed ?? 0,
  }),
  runningStatus: (config) => `running: consuming ${config.own.queues.map((q) => `cmq.${q}`).join(', ')}`,
};

startService(definition, process);
