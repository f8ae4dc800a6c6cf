#!/usr/bin/env node
import { hostname } from 'node:os';
import { type Component, PgSession, type ServiceDefinition, VERSION, startService } from '@cmq/common';
import { type PublisherConfig, publisherFile } from '@cmq/config';
import { HistoryKeeper } from './history-keeper';
import { Autoscaler } from './autoscaler';
import { LogScheduler } from './log-scheduler';
import { Relay } from './relay';
import { SyncScheduler } from './sync-scheduler';

let relay: Relay | undefined;

/** The publisher process: see services/publisher/README.md for what it consumes and produces. */
const definition: ServiceDefinition<PublisherConfig> = {
  service: 'publisher',
  version: VERSION,
  ownFile: publisherFile,
  components: ({ config, database, redis, amqp, logging, coordinator, metrics, reporter }) => {
    const { own } = config;
    const actor = `publisher:${own.name}@${hostname()}`;
    const logger = logging.logger.child({ component: 'relay' });
    relay = new Relay({
      database,
      amqp,
      logger,
      actor,
      metrics,
      sweepIntervalMs: own.relay.sweep_interval,
      confirmTimeoutMs: own.relay.confirm_timeout,
      status: coordinator.status,
      reporter,
      limits: { batchSize: own.relay.batch_size, window: own.relay.window, tenantCap: own.relay.tenant_cap },
    });
    const r = relay;
    const listener = new PgSession({
      name: 'relay-listener',
      db: config.db,
      applicationName: `${actor} listen`,
      logger: logging.logger.child({ component: 'relay-listener' }),
      status: coordinator.status,
      setup: async (session) => {
        await session.query('LISTEN cmq_relay');
      },
      onNotification: () => r.wake(),
      onReconnect: () => r.wake(),
    });
    const scheduler = new LogScheduler({
      database,
      logger: logging.logger.child({ component: 'log-scheduler' }),
      intervalMs: own.logs.collect_interval,
      defaultPaths: own.logs.paths,
      actor,
    });
    const components: Component[] = [listener, relay, scheduler];
    const sync = own.sync.enabled
      ? new SyncScheduler({
          database,
          logger: logging.logger.child({ component: 'sync-scheduler' }),
          intervals: own.sync.interval,
          jitter: own.sync.jitter,
          leaseMs: own.sync.lease,
          actor,
        })
      : undefined;
    if (sync !== undefined) components.push(sync);
    // Policies are evaluated by the holder of the scheduling lease only (sync.enabled=false: never).
    components.push(
      new Autoscaler({
        database,
        redis,
        amqp,
        logger: logging.logger.child({ component: 'autoscaler' }),
        actor,
        mode: config.provisioning.mode,
        holder: () => sync?.holder ?? false,
        intervalMs: own.policies.interval,
        fleetMax: own.policies.fleet_max,
        rateWindowS: own.policies.rate_window / 1000,
        reporter,
      }),
    );
    if (own.history.enabled) {
      components.push(
        new HistoryKeeper({
          database,
          logger: logging.logger.child({ component: 'history-keeper' }),
          settings: own.history,
          intervalMs: own.history.interval,
          batchPauseMs: own.history.batch_pause,
          leaseMs: own.history.lease,
          actor,
        }),
      );
    }
    return components;
  },
  heartbeatStats: () => ({ queues: [], inFlight: 0, processed: relay?.published ?? 0, failed: 0 }),
  runningStatus: () => 'running: relaying actions',
};

startService(definition, process);
