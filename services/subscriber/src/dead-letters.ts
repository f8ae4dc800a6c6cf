import { maskBodySecrets, recordDeadLetter } from '@cmq/actions';
import {
  type AmqpClient,
  CmqError,
  DEAD_QUEUE,
  type Database,
  type Delivery,
  type ErrorReporter,
  Exchanges,
  type Logger,
  errorText,
  withDeadline,
} from '@cmq/common';

export interface DeadLettersOptions {
  database: Database;
  /**
   * The connection dead copies are published on, not the consuming one: a broker under a
   * resource alarm stops reading a connection that publishes, acks included.
   */
  publisher: AmqpClient;
  /** How long a dead copy's confirm is waited for (amqp.connect_timeout). */
  confirmTimeoutMs: number;
  logger: Logger;
  /** `subscriber:<name>@<host>:<pid>`, recorded with each dead letter. */
  worker: string;
  /** Counted once per dead letter (Prometheus). */
  counter: { inc(): void };
  /** Runs a database step with the subscriber's retries. */
  retry: <T>(step: () => Promise<T>) => Promise<T>;
  /** Where each dead letter is reported to operators (`sentry.dsn`). */
  reporter?: ErrorReporter;
}

/**
 * Messages that can never run: each is recorded in `dead_letters` (the record operators read
 * with `cmq dead`), logged, and copied onto `cmq.dead` for broker tooling. Record and copy have
 * the secret arguments of a request published straight onto the broker masked.
 */
export class DeadLetters {
  constructor(private readonly opts: DeadLettersOptions) {}

  /**
   * Records `msg` as a dead letter with `reason` (retried until it works or the subscriber
   * stops) and logs it; resolves with the tenant it was recorded under (null: none known).
   */
  async record(msg: Delivery, reason: string, tenant: string | null): Promise<string | null> {
    const { opts } = this;
    const recorded = await opts.retry(() =>
      recordDeadLetter(opts.database.sql, {
        reason,
        routingKey: msg.routingKey,
        tenant,
        body: maskBodySecrets(msg.content),
        worker: opts.worker,
      }),
    );
    opts.counter.inc();
    opts.logger.warn(
      {
        tenant: recorded.tenant ?? undefined,
        deadLetter: `m${recorded.id}`,
        routingKey: msg.routingKey,
        reason,
      },
      'message dead-lettered',
    );
    opts.reporter?.captureMessage(`message dead-lettered (m${recorded.id}): ${reason}`, {
      kind: 'dead',
      code: 'dead_letter',
      type: 'dead_letter',
      ...(recorded.tenant !== null ? { tenant: recorded.tenant } : {}),
      extra: { routingKey: msg.routingKey },
    });
    return recorded.tenant;
  }

  /**
   * Publishes a copy of `msg` on `cmq.dead` with the reason in its headers. Never throws: the
   * database already records it (dead action or dead letter).
   */
  async publishCopy(msg: Delivery, reason: string, tenant: string | null, actionId: string | undefined): Promise<void> {
    const headers: Record<string, string> = { 'x-cmq-reason': reason, 'x-cmq-routing-key': msg.routingKey };
    if (tenant !== null) headers['x-cmq-tenant'] = tenant;
    if (actionId !== undefined) headers['x-cmq-action-id'] = actionId;
    // Not waited for past amqp.connect_timeout: a broker blocked by a resource alarm confirms
    // nothing until it clears, and the delivery, unacked meanwhile, would hold a prefetch slot.
    const { publisher, confirmTimeoutMs: ms } = this.opts;
    try {
      await withDeadline(
        publisher.publish(Exchanges.dead, msg.routingKey, maskBodySecrets(msg.content), { headers }),
        ms,
        () =>
          new CmqError(
            'CMQ_ERR_BROKER_UNAVAILABLE',
            `not confirmed within amqp.connect_timeout (${ms} ms)${publisher.blockedNote()}; it may still go out when the broker takes it`,
            { transient: true },
          ),
      );
    } catch (err) {
      this.opts.logger.warn({ err: errorText(err), queue: DEAD_QUEUE }, 'dead copy not published');
    }
  }
}
