import { hostname } from 'node:os';
import { AmqpConsumer, type Component, type ConsumeHandlers, queueName, sleep } from '@cmq/common';
import { DeliveryHandler } from './delivery-handler';
import { DependencyGate } from './dependency-gate';
import { Executor } from './executor';
import { FamilyPauses } from './family-pauses';
import { type HandlerServices, handlerServices } from './handler-services';
import type { SubscriberDeps } from './subscriber-deps';
import { WorkerLock } from './worker-lock';

export type { SubscriberDeps } from './subscriber-deps';

/**
 * Consumes the configured family queues and hands each delivery to a {@link DeliveryHandler}
 * (claim, run, commit, then ack). It holds the worker's advisory lock while it lives (see
 * {@link WorkerLock}). SIGTERM: stop consuming, let in-flight work finish within the drain
 * deadline, hand back the rest.
 */
export class Subscriber implements Component {
  readonly name = 'subscriber';
  private readonly worker: string;
  private draining = false;
  private readonly lock: WorkerLock;
  private readonly consumer: AmqpConsumer;
  private readonly deliveries: DeliveryHandler;
  /** Pauses consuming while Redis or PostgreSQL is away. */
  private readonly gate: DependencyGate;
  /** Its SSH pool's connections are closed on stop. */
  private readonly handlers: HandlerServices;
  /** Families worker control paused (`pause FAMILY`), until `resume FAMILY`. */
  readonly pauses: FamilyPauses;

  constructor(private readonly deps: SubscriberDeps) {
    const { own } = deps.config;
    this.worker = `subscriber:${own.name}@${hostname()}:${process.pid}`;
    this.handlers = handlerServices(deps.config, deps.database);
    this.lock = new WorkerLock({
      db: deps.config.db,
      name: own.name,
      worker: this.worker,
      logger: deps.logger,
      status: deps.status,
    });
    this.consumer = new AmqpConsumer(deps.amqp, { prefetch: own.prefetch, logger: deps.logger });
    const executor = new Executor({
      timeoutMs: own.action.timeout,
      retry: {
        initialMs: own.retry.initial_delay,
        maxMs: own.retry.max_delay,
        maxThrottled: own.retry.max_throttled,
        maxOutages: own.retry.max_outages,
        outageMaxMs: own.retry.outage_max_delay,
      },
      logger: deps.logger,
      redis: deps.redis,
      ssh: this.handlers.ssh,
      cloud: this.handlers.cloud,
      mode: deps.config.provisioning.mode,
      ...(deps.reporter !== undefined ? { reporter: deps.reporter } : {}),
    });
    this.gate = new DependencyGate(this.consumer, deps.logger);
    this.pauses = new FamilyPauses(this.consumer, own.queues, deps.logger);
    this.deliveries = new DeliveryHandler(deps, {
      consumer: this.consumer,
      executor,
      worker: this.worker,
      workerId: () => this.lock.id,
      keyring: this.handlers.keyringIfSet,
    });
  }

  /** Actions that succeeded (the heartbeat's `processed`). */
  get processed(): number {
    return this.deliveries.processed;
  }

  /** Actions that failed or died, and dead letters (the heartbeat's `failed`). */
  get failed(): number {
    return this.deliveries.failed;
  }

  /** Deliveries being handled now. */
  get inFlight(): number {
    return this.deliveries.inFlight;
  }

  async start(signal: AbortSignal): Promise<void> {
    const { config, database } = this.deps;
    await this.lock.start(signal, database.sql);
    for (const family of config.own.queues) await this.consumer.consume(queueName(family), this.consuming(family));
    this.gate.watch(this.deps.redis, database);
    this.deps.logger.info({ workerId: this.lock.id, queues: config.own.queues }, 'consuming');
  }

  async close(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    await this.consumer.cancel();
    const drainMs = this.deps.config.own.shutdown.drain_timeout;
    const margin = Math.min(2_000, Math.max(200, drainMs * 0.2));
    const finished = await this.waitIdle(drainMs - margin);
    if (!finished) {
      this.deps.logger.warn({ inFlight: this.inFlight }, 'drain deadline near: handing back unfinished actions');
      this.deliveries.handBack();
      await this.waitIdle(margin * 0.8);
    }
    this.handlers.ssh.client.close();
    await this.lock.close();
  }

  destroy(): void {
    this.deliveries.handBack();
    this.handlers.ssh.client.close();
    this.lock.destroy();
  }

  /** What the consumer of one family's queue does with what it is told. */
  private consuming(family: string): ConsumeHandlers {
    return {
      onDelivery: (msg) => {
        void this.deliveries.handle(msg).catch((err: unknown) => {
          // Unexpected (a bug, not the database: its failures are retried). Hand the message back,
          // after a pause so a persistent fault is no hot loop: a redelivery whose row is already
          // final is acked without running, and the queue's delivery limit ends endless repeats.
          this.deps.logger.error({ err, routingKey: msg.routingKey }, 'delivery handling failed; requeued in 1 s');
          setTimeout(() => this.consumer.requeue(msg), 1_000).unref();
        });
      },
      onCancelled: () => {
        this.deps.logger.warn({ family }, 'the broker cancelled the consumer; reconnecting');
        this.deps.amqp.reconnect();
      },
    };
  }

  private async waitIdle(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(20);
    return this.inFlight === 0;
  }
}
