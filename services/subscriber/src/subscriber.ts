import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import {
  type Outcome,
  WORKER_LOCK,
  endActionUnread,
  insertActions,
  IntakeError,
  isActionId,
  recordDeadLetter,
  registerWorker,
  unstorable,
} from '@cmq/actions';
import {
  type AmqpClient,
  AmqpConsumer,
  type ConsumeHandlers,
  CmqError,
  type Component,
  type Database,
  DEAD_QUEUE,
  Exchanges,
  Keyring,
  type Logger,
  SshClient,
  type MetricsFile,
  PgSession,
  type ProcessConfig,
  type Delivery,
  type RedisClient,
  type StatusBoard,
  backoffDelay,
  errorText,
  isDataRefusal,
  queueName,
  sleep,
  withDeadline,
} from '@cmq/common';
import { type Claim, ClaimBatches } from './claims';
import type { SubscriberConfig } from '@cmq/config';
import { type DeliveryKind, classify } from './delivery';
import { Executor } from './executor';
import type { CloudServices, SshServices } from './handlers';
import { Semaphore } from './semaphore';
import { SubscriberMetrics } from './subscriber-metrics';

/** The keyring of km-client.cfg, read on first use (a subscriber without guest or cloud work needs none). */
function lazyKeyring(deps: SubscriberDeps): () => Keyring {
  let keyring: Keyring | undefined;
  return () => (keyring ??= Keyring.fromConfig(deps.config.km));
}

/** SSH for guest.* handlers. */
function sshServices(deps: SubscriberDeps, keyring: () => Keyring): SshServices {
  return {
    get sql() {
      return deps.database.sql;
    },
    client: new SshClient(deps.config.provisioning),
    keyring,
    strictHostKeys: deps.config.provisioning.ssh.strict_host_keys,
    logDir: deps.config.own.log.dir,
  };
}

/** Cloud accounts and drivers for server.* and sync.* handlers. */
function cloudServices(deps: SubscriberDeps, keyring: () => Keyring): CloudServices {
  return {
    get sql() {
      return deps.database.sql;
    },
    keyring,
    provisioning: deps.config.provisioning,
    transaction: (fn) => deps.database.transaction(fn),
  };
}

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
}

/**
 * Consumes the configured family queues. Per delivery: claim the row (a finished or foreign row
 * is acked without running), run its handler, commit the outcome, then ack; malformed messages
 * are dead-lettered. Claims and commits are batched. SIGTERM: stop consuming, let in-flight work
 * finish within the drain deadline, hand back the rest.
 */
export class Subscriber implements Component {
  readonly name = 'subscriber';
  processed = 0;
  failed = 0;
  inFlight = 0;
  private workerId = '';
  private readonly worker: string;
  private readonly stop = new AbortController();
  private draining = false;
  private handingBack = false;
  private lockSession: PgSession | undefined;
  private readonly consumer: AmqpConsumer;
  private readonly slots: Semaphore;
  private readonly executor: Executor;
  private readonly batches: ClaimBatches;
  private readonly counters: SubscriberMetrics;
  /** SSH for guest.* and node.* handlers: its pooled connections are closed on stop. */
  private readonly ssh: SshServices;

  constructor(private readonly deps: SubscriberDeps) {
    const { own } = deps.config;
    this.worker = `subscriber:${own.name}@${hostname()}:${process.pid}`;
    this.slots = new Semaphore(own.concurrency);
    const keyring = lazyKeyring(deps);
    this.ssh = sshServices(deps, keyring);
    this.executor = new Executor({
      timeoutMs: own.action.timeout,
      retry: { initialMs: own.retry.initial_delay, maxMs: own.retry.max_delay, maxThrottled: own.retry.max_throttled },
      logger: deps.logger,
      redis: deps.redis,
      ssh: this.ssh,
      cloud: cloudServices(deps, keyring),
      mode: deps.config.provisioning.mode,
    });
    this.batches = new ClaimBatches(deps.database, deps.logger, { workerId: () => this.workerId, worker: this.worker });
    this.counters = new SubscriberMetrics(deps.metrics.registry, () => this.inFlight);
    this.consumer = new AmqpConsumer(deps.amqp, { prefetch: own.prefetch, logger: deps.logger });
    // Every running action listens to the stop signal.
    setMaxListeners(own.concurrency + 16, this.stop.signal);
  }

  async start(signal: AbortSignal): Promise<void> {
    const { config, database } = this.deps;
    this.workerId = await registerWorker(database.sql, {
      service: 'subscriber',
      name: config.own.name,
      host: hostname(),
      pid: process.pid,
    });
    this.lockSession = new PgSession({
      name: 'worker-lock',
      db: config.db,
      applicationName: `${this.worker} lock`,
      logger: this.deps.logger,
      status: this.deps.status,
      setup: async (session) => {
        await session.query('SELECT pg_advisory_lock($1, $2)', [WORKER_LOCK, Number(this.workerId)]);
      },
    });
    await this.lockSession.start(signal);
    for (const family of config.own.queues) await this.consumer.consume(queueName(family), this.handlers(family));
    this.deps.logger.info({ workerId: this.workerId, queues: config.own.queues }, 'consuming');
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
      this.handingBack = true;
      this.stop.abort();
      await this.waitIdle(margin * 0.8);
    }
    this.ssh.client.close();
    await this.lockSession?.close();
  }

  destroy(): void {
    this.handingBack = true;
    this.stop.abort();
    this.ssh.client.close();
    this.lockSession?.destroy();
  }

  private handlers(family: string): ConsumeHandlers {
    return {
      onDelivery: (msg) => {
        void this.handle(msg).catch((err: unknown) => {
          // Unexpected (a bug, not the database: its failures are retried). Hand the message back,
          // after a pause so a persistent fault is no hot loop: a redelivery whose row is already
          // final is acked without running, and the queue's delivery limit ends endless repeats.
          this.deps.logger.error({ err, routingKey: msg.routingKey }, 'delivery handling failed; requeued in 1 s');
          setTimeout(() => this.settle(msg, 'requeue'), 1_000).unref();
        });
      },
      onCancelled: () => {
        this.deps.logger.warn({ family }, 'the broker cancelled the consumer; reconnecting');
        this.deps.amqp.reconnect();
      },
    };
  }

  private async handle(msg: Delivery): Promise<void> {
    this.inFlight += 1;
    try {
      let kind: DeliveryKind;
      try {
        kind = classify(msg.content, this.deps.config.own.max_body_bytes);
      } catch (err) {
        // A body that breaks the reader itself (a bug, or a shape nobody foresaw) is bad input
        // too: dead-lettered with what went wrong, not handed back to fail again.
        kind = { kind: 'invalid', reason: `body could not be read: ${errorText(err)}`, tenant: null };
      }
      if (kind.kind === 'invalid') await this.invalid(msg, kind);
      else if (kind.kind === 'direct') await this.intake(msg, kind);
      else await this.runAction(msg, kind.id, kind.tenant);
    } catch (err) {
      // Only a stop interrupts the database retries: leave the message unacked, the broker
      // redelivers it when the connection closes.
      if (!this.stop.signal.aborted) throw err;
    } finally {
      this.inFlight -= 1;
    }
  }

  private async runAction(msg: Delivery, id: string, tenant: string | null): Promise<void> {
    let claim: Claim;
    try {
      // A claim PostgreSQL refuses even alone (the batcher isolates it) is refused for good.
      claim = await this.withRetry(() => this.batches.claim(id), isDataRefusal);
    } catch (err) {
      if (!isDataRefusal(err) || this.stop.signal.aborted) throw err;
      return this.deadLetter(msg, `its claim of action ${id} was refused by PostgreSQL: ${errorText(err)}`, tenant);
    }
    if (claim.kind === 'missing') return this.deadLetter(msg, `no action with id ${id}`, tenant);
    if (claim.kind === 'skip') return this.settle(msg, 'ack');
    const release = await this.slots.acquire();
    const started = process.hrtime.bigint();
    let outcome: Outcome;
    try {
      outcome = this.handingBack
        ? {
            id,
            attempt: claim.action.attempts,
            state: 'queued',
            error: 'handed back: the subscriber stopped before it started',
          }
        : await this.executor.run(claim.action, this.stop.signal, () => this.handingBack);
    } finally {
      release();
    }
    const committed = await this.withRetry(() => this.batches.commit(outcome));
    // A hand-back whose commit was refused ended dead (commitBatch): ack it with its dead copy.
    if (outcome.state === 'queued' && committed?.state !== 'dead') return this.settle(msg, 'requeue');
    if (committed !== null) this.count(committed, claim.action.type, Number(process.hrtime.bigint() - started) / 1e9);
    if (committed?.state === 'dead')
      await this.publishDeadCopy(msg, committed.error ?? 'dead', claim.action.tenant_id, id);
    this.settle(msg, 'ack');
  }

  private async intake(msg: Delivery, delivery: Extract<DeliveryKind, { kind: 'direct' }>): Promise<void> {
    const messageId = typeof msg.messageId === 'string' ? msg.messageId : undefined;
    const badId = unstorable(
      messageId,
      'messageId (the idempotency key of a request published straight onto the broker)',
    );
    if (badId !== undefined) return this.deadLetter(msg, badId, delivery.request.tenant);
    const request = { ...delivery.request, idempotencyKey: messageId === undefined ? null : `amqp:${messageId}` };
    try {
      await this.withRetry(
        () =>
          insertActions((fn) => this.deps.database.transaction(fn), [request], this.worker, {
            mode: this.deps.config.provisioning.mode,
          }),
        isDataRefusal,
      );
    } catch (err) {
      if (err instanceof IntakeError) return this.deadLetter(msg, err.message, request.tenant);
      if (isDataRefusal(err) && !this.stop.signal.aborted)
        return this.deadLetter(msg, `refused by PostgreSQL: ${errorText(err)}`, request.tenant);
      throw err;
    }
    this.settle(msg, 'ack');
  }

  /**
   * A delivery that can never run. One too big to read may still be a relay's message (its
   * messageId is the action id): that action ends `dead` with the reason, or it would wait
   * forever; anything else becomes a dead letter.
   */
  private async invalid(msg: Delivery, delivery: Extract<DeliveryKind, { kind: 'invalid' }>): Promise<void> {
    const id = msg.messageId;
    if (delivery.unread === true && typeof id === 'string' && isActionId(id)) {
      const ended = await this.withRetry(() =>
        endActionUnread(this.deps.database.sql, id, msg.routingKey, delivery.reason, this.worker),
      );
      if (ended !== undefined) {
        this.failed += 1;
        this.deps.logger.warn(
          { tenant: ended.tenant, action: id, reason: delivery.reason },
          'action dead: its message cannot be read',
        );
        await this.publishDeadCopy(msg, delivery.reason, ended.tenant, id);
        return this.settle(msg, 'ack');
      }
    }
    return this.deadLetter(msg, delivery.reason, delivery.tenant);
  }

  private async deadLetter(msg: Delivery, reason: string, tenant: string | null): Promise<void> {
    const recorded = await this.withRetry(() =>
      recordDeadLetter(this.deps.database.sql, {
        reason,
        routingKey: msg.routingKey,
        tenant,
        body: msg.content,
        worker: this.worker,
      }),
    );
    this.failed += 1;
    this.counters.deadLetters.inc();
    this.deps.logger.warn(
      {
        tenant: recorded.tenant ?? undefined,
        deadLetter: `m${recorded.id}`,
        routingKey: msg.routingKey,
        reason,
      },
      'message dead-lettered',
    );
    await this.publishDeadCopy(msg, reason, recorded.tenant, undefined);
    this.settle(msg, 'ack');
  }

  private async publishDeadCopy(
    msg: Delivery,
    reason: string,
    tenant: string | null,
    actionId: string | undefined,
  ): Promise<void> {
    const headers: Record<string, string> = { 'x-cmq-reason': reason, 'x-cmq-routing-key': msg.routingKey };
    if (tenant !== null) headers['x-cmq-tenant'] = tenant;
    if (actionId !== undefined) headers['x-cmq-action-id'] = actionId;
    // Not waited for past amqp.connect_timeout: a broker blocked by a resource alarm confirms
    // nothing until it clears, and the delivery, unacked meanwhile, would hold a prefetch slot.
    const ms = this.deps.config.amqp.connect_timeout;
    const publisher = this.deps.publisher;
    try {
      await withDeadline(
        publisher.publish(Exchanges.dead, msg.routingKey, msg.content, { headers }),
        ms,
        () =>
          new CmqError(
            'CMQ_ERR_BROKER_UNAVAILABLE',
            `not confirmed within amqp.connect_timeout (${ms} ms)${publisher.blockedNote()}; it may still go out when the broker takes it`,
            { transient: true },
          ),
      );
    } catch (err) {
      // The database already records it (dead action or dead letter); the copy is for broker tooling.
      this.deps.logger.warn({ err: errorText(err), queue: DEAD_QUEUE }, 'dead copy not published');
    }
  }

  private settle(msg: Delivery, how: 'ack' | 'requeue'): void {
    if (how === 'ack') this.consumer.ack(msg);
    else this.consumer.requeue(msg);
  }

  private count(outcome: Outcome, type: string, seconds: number): void {
    this.counters.observe(type, outcome.state, seconds);
    if (outcome.state === 'succeeded') this.processed += 1;
    else if (outcome.state === 'failed' || outcome.state === 'dead') this.failed += 1;
  }

  /**
   * Retries a database step until it works or the process must stop (then throws). An
   * IntakeError, or an error `final` accepts, is thrown at once: retrying cannot cure it.
   */
  private async withRetry<T>(step: () => Promise<T>, final: (err: unknown) => boolean = () => false): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await step();
      } catch (err) {
        if (err instanceof IntakeError || final(err) || this.stop.signal.aborted) throw err;
        this.deps.logger.warn({ err: errorText(err), attempt }, 'database step failed; retrying');
        if (!(await sleep(backoffDelay(attempt, 100, 5_000), this.stop.signal))) throw err;
      }
    }
  }

  private async waitIdle(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(20);
    return this.inFlight === 0;
  }
}
