import { setMaxListeners } from 'node:events';
import {
  type ClaimedAction,
  type Outcome,
  endActionUnread,
  insertActions,
  IntakeError,
  isActionId,
  unstorable,
} from '@cmq/actions';
import { type AmqpConsumer, type Delivery, type Keyring, errorText, isDataRefusal } from '@cmq/common';
import { type Claim, ClaimBatches } from './claims';
import { retryDatabaseStep } from './database-retry';
import { DeadLetters } from './dead-letters';
import { type DeliveryKind, classify } from './delivery';
import type { Executor } from './executor';
import { Semaphore } from './semaphore';
import type { SubscriberDeps } from './subscriber-deps';
import { SubscriberMetrics } from './subscriber-metrics';

export interface DeliveryHandlerOptions {
  /** Where each delivery is acked or requeued. */
  consumer: AmqpConsumer;
  /** Runs the claimed actions' handlers. */
  executor: Executor;
  /** `subscriber:<name>@<host>:<pid>`. */
  worker: string;
  /** The worker's id in `workers` (known once the subscriber started). */
  workerId: () => string;
  /** The keyring that seals a direct request's secret arguments (undefined: km.keys_file is unset). */
  keyring: () => Keyring | undefined;
}

/**
 * What the subscriber does with each delivery: claim the row (a finished or foreign row is acked
 * without running), run its handler, commit the outcome, then ack; a request published straight
 * onto the broker goes through intake; a message that can never run is dead-lettered. Claims and
 * commits are batched; database steps are retried until they work or the subscriber stops.
 */
export class DeliveryHandler {
  processed = 0;
  failed = 0;
  inFlight = 0;
  private readonly stop = new AbortController();
  private handingBack = false;
  private readonly slots: Semaphore;
  private readonly batches: ClaimBatches;
  private readonly counters: SubscriberMetrics;
  private readonly deadLetters: DeadLetters;

  constructor(
    private readonly deps: SubscriberDeps,
    private readonly opts: DeliveryHandlerOptions,
  ) {
    const { own } = deps.config;
    this.slots = new Semaphore(own.concurrency);
    this.batches = new ClaimBatches(deps.database, deps.logger, { workerId: opts.workerId, worker: opts.worker });
    this.counters = new SubscriberMetrics(deps.metrics.registry, () => this.inFlight);
    this.deadLetters = new DeadLetters({
      database: deps.database,
      publisher: deps.publisher,
      confirmTimeoutMs: deps.config.amqp.connect_timeout,
      logger: deps.logger,
      worker: opts.worker,
      counter: this.counters.deadLetters,
      retry: (step) => this.withRetry(step),
      ...(deps.reporter !== undefined ? { reporter: deps.reporter } : {}),
    });
    // Every running action listens to the stop signal.
    setMaxListeners(own.concurrency + 16, this.stop.signal);
  }

  /**
   * Stops the work in flight: what has not started is handed back (`queued`, message requeued),
   * running handlers are aborted and hand theirs back, database retries end.
   */
  handBack(): void {
    this.handingBack = true;
    this.stop.abort();
  }

  /** Handles one delivery. Rejects only on a bug: the caller requeues the message then. */
  async handle(msg: Delivery): Promise<void> {
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
    if (claim.kind === 'skip') return this.opts.consumer.ack(msg);
    const release = await this.slots.acquire();
    const started = process.hrtime.bigint();
    let outcome: Outcome;
    try {
      outcome = await this.run(claim.action, id);
    } finally {
      release();
    }
    const committed = await this.withRetry(() => this.batches.commit(outcome));
    // A hand-back whose commit was refused ended dead (commitBatch): ack it with its dead copy.
    if (outcome.state === 'queued' && committed?.state !== 'dead') return this.opts.consumer.requeue(msg);
    if (committed !== null) this.count(committed, claim.action.type, Number(process.hrtime.bigint() - started) / 1e9);
    if (committed?.state === 'dead')
      await this.deadLetters.publishCopy(msg, committed.error ?? 'dead', claim.action.tenant_id, id);
    this.opts.consumer.ack(msg);
  }

  /** Runs a claimed action, or hands it back when the subscriber stopped before it started. */
  private run(action: ClaimedAction, id: string): Promise<Outcome> {
    if (this.handingBack)
      return Promise.resolve({
        id,
        attempt: action.attempts,
        state: 'queued',
        error: 'handed back: the subscriber stopped before it started',
      });
    return this.opts.executor.run(action, this.stop.signal, () => this.handingBack);
  }

  private async intake(msg: Delivery, delivery: Extract<DeliveryKind, { kind: 'direct' }>): Promise<void> {
    const messageId = typeof msg.messageId === 'string' ? msg.messageId : undefined;
    const badId = unstorable(
      messageId,
      'messageId (the idempotency key of a request published straight onto the broker)',
    );
    if (badId !== undefined) return this.deadLetter(msg, badId, delivery.request.tenant);
    // The broker's messageId names a redelivery of the same message; without one, the body's
    // idempotency_key (as `cmq call` takes it) does.
    const idempotencyKey = messageId === undefined ? delivery.request.idempotencyKey : `amqp:${messageId}`;
    const request = { ...delivery.request, idempotencyKey };
    try {
      await this.withRetry(
        () =>
          insertActions((fn) => this.deps.database.transaction(fn), [request], this.opts.worker, {
            mode: this.deps.config.provisioning.mode,
            keyring: this.opts.keyring,
          }),
        isDataRefusal,
      );
    } catch (err) {
      if (err instanceof IntakeError) return this.deadLetter(msg, err.message, request.tenant);
      if (isDataRefusal(err) && !this.stop.signal.aborted)
        return this.deadLetter(msg, `refused by PostgreSQL: ${errorText(err)}`, request.tenant);
      throw err;
    }
    this.opts.consumer.ack(msg);
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
        endActionUnread(this.deps.database.sql, id, msg.routingKey, delivery.reason, this.opts.worker),
      );
      if (ended !== undefined) {
        this.failed += 1;
        this.deps.logger.warn(
          { tenant: ended.tenant, action: id, reason: delivery.reason },
          'action dead: its message cannot be read',
        );
        this.deps.reporter?.captureMessage(`action dead: its message cannot be read: ${delivery.reason}`, {
          kind: 'dead',
          code: 'message_unread',
          type: 'message_unread',
          tenant: ended.tenant,
          action: id,
        });
        await this.deadLetters.publishCopy(msg, delivery.reason, ended.tenant, id);
        return this.opts.consumer.ack(msg);
      }
    }
    return this.deadLetter(msg, delivery.reason, delivery.tenant);
  }

  private async deadLetter(msg: Delivery, reason: string, tenant: string | null): Promise<void> {
    const recordedTenant = await this.deadLetters.record(msg, reason, tenant);
    this.failed += 1;
    await this.deadLetters.publishCopy(msg, reason, recordedTenant, undefined);
    this.opts.consumer.ack(msg);
  }

  private count(outcome: Outcome, type: string, seconds: number): void {
    this.counters.observe(type, outcome.state, seconds);
    if (outcome.state === 'succeeded') this.processed += 1;
    else if (outcome.state === 'failed' || outcome.state === 'dead') this.failed += 1;
  }

  private withRetry<T>(step: () => Promise<T>, final?: (err: unknown) => boolean): Promise<T> {
    return retryDatabaseStep(step, this.stop.signal, this.deps.logger, final);
  }
}
