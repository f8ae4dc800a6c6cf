import {
  type DueAction,
  Recovery,
  type RelayLimits,
  encodeAction,
  expireDue,
  msUntilNextDue,
  relayFamily,
} from '@cmq/actions';
import {
  type AmqpClient,
  CmqError,
  type Component,
  type Database,
  type ErrorReporter,
  Exchanges,
  FAMILIES,
  type Family,
  type Logger,
  type MetricsFile,
  type StatusBoard,
  backoffDelay,
  errorText,
  sleep,
  withDeadline,
} from '@cmq/common';
import { ConfirmGates } from './confirm-gates';
import { FamilyBackoff } from './family-backoff';
import { RelayMetrics } from './relay-metrics';

export interface RelayOptions {
  database: Database;
  amqp: AmqpClient;
  logger: Logger;
  limits: RelayLimits;
  /** Safety-net sweep when no notification arrives. */
  sweepIntervalMs: number;
  /** Longest wait for a batch's confirms (see publish). */
  confirmTimeoutMs: number;
  /** Who moved the rows, in action events. */
  actor: string;
  metrics: MetricsFile;
  /** Where the relay says it waits for the confirms of a batch it gave up on. */
  status: StatusBoard;
  /** Where a family failing and a confirm gate held are reported to operators (`sentry.dsn`). */
  reporter?: ErrorReporter;
}

/**
 * The transactional outbox's relay: moves due action rows onto `cmq.actions` with publisher
 * confirms, fairly across tenants and within each family's window; ends expired ones. Woken at
 * once by NOTIFY (new actions, finished actions), with a periodic sweep as a safety net.
 */
export class Relay implements Component {
  readonly name = 'relay';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** Actions published since start. */
  published = 0;
  private readonly counters: RelayMetrics;
  /**
   * Recovery's dead-worker rule runs here, before each cycle: it needs only PostgreSQL, so a dead
   * worker's actions run again even when no pinger runs and their messages were lost.
   */
  private readonly recovery: Recovery;
  /** Families whose abandoned batch the broker still owes confirms for (see publish). */
  private readonly gates: ConfirmGates;
  /** Families whose last relaying failed wait with their own backoff. */
  private readonly backoff: FamilyBackoff;
  /** The broker connection should be reopened at the start of the next cycle (one reopen for every asker). */
  private reopenWanted = false;

  constructor(private readonly opts: RelayOptions) {
    this.counters = new RelayMetrics(opts.metrics.registry, opts.limits.window);
    this.recovery = new Recovery({ sql: opts.database.sql, logger: opts.logger, actor: opts.actor });
    this.backoff = new FamilyBackoff({
      logger: opts.logger,
      status: opts.status,
      reopen: () => this.reopen(),
      ...(opts.reporter !== undefined ? { reporter: opts.reporter } : {}),
    });
    this.gates = new ConfirmGates({
      amqp: opts.amqp,
      status: opts.status,
      confirmTimeoutMs: opts.confirmTimeoutMs,
      onOpen: () => this.wake(),
      onStale: (family, outstanding, since) => {
        opts.logger.warn(
          { family, outstanding, since },
          'confirms of an abandoned batch still missing: reopening the broker connection',
        );
        opts.reporter?.captureMessage(`relay: confirm gate of ${family} held, ${outstanding} confirms missing`, {
          kind: 'warning',
          code: 'confirm_gate_held',
          type: `relay.${family}`,
          extra: { family, outstanding, since },
        });
        this.reopen();
      },
      onError: (err) => opts.logger.error({ err: errorText(err) }, 'opening a confirm gate failed'),
    });
  }

  start(): Promise<void> {
    this.loop = this.run();
    return Promise.resolve();
  }

  /** Asks for a cycle now (a NOTIFY arrived). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.gates.close();
    this.wakeUp?.();
    await this.loop;
  }

  destroy(): void {
    this.abort.abort();
    this.gates.close();
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      this.woken = false;
      let moved: number;
      try {
        moved = await this.cycle();
        failures = 0;
      } catch (err) {
        failures += 1;
        this.opts.logger.warn({ err: errorText(err), failures }, 'relay cycle failed; retrying');
        await sleep(backoffDelay(failures, 200, 10_000), this.abort.signal);
        continue;
      }
      if (moved > 0 || this.woken) continue;
      await this.idle();
    }
  }

  /**
   * Waits for a wake-up, the next retry or countdown coming due, or the sweep interval,
   * whichever comes first.
   */
  private async idle(): Promise<void> {
    const nextDue = await msUntilNextDue(this.opts.database.sql).catch(() => undefined);
    // Due now but nothing moved: the window is full; a commit's NOTIFY wakes us when it frees.
    const wait =
      nextDue === undefined || nextDue === 0
        ? this.opts.sweepIntervalMs
        : Math.min(nextDue + 5, this.opts.sweepIntervalMs);
    if (this.woken || this.abort.signal.aborted) return;
    // One controller per wait, aborted by a wake-up or close(), so no timer or listener outlives it.
    const waiting = new AbortController();
    const onClose = (): void => waiting.abort();
    this.abort.signal.addEventListener('abort', onClose, { once: true });
    this.wakeUp = () => waiting.abort();
    await sleep(wait, waiting.signal);
    this.wakeUp = undefined;
    this.abort.signal.removeEventListener('abort', onClose);
  }

  /** One pass over every family; returns how many actions moved. */
  private async cycle(): Promise<number> {
    const { database, limits, actor } = this.opts;
    const expired = await expireDue(database.sql, actor);
    if (expired > 0) this.opts.logger.info({ expired }, 'actions expired before they could run');
    this.counters.expired.inc(expired);
    const reaped = await this.recovery.recoverDead();
    let moved = reaped;
    // Blocked by a resource alarm, or away, the broker would take nothing: the due rows stay
    // due, unlocked (the connection's own status says why).
    if (this.opts.amqp.blocked !== undefined) return moved + expired;
    if (!this.opts.amqp.connected) {
      this.reopenWanted = false;
      return moved + expired;
    }
    if (this.reopenWanted) {
      // Between families, so that no batch of a family that is fine is cut off half-way.
      this.reopenWanted = false;
      this.opts.amqp.reconnect(this.opts.confirmTimeoutMs);
      return moved + expired;
    }
    const failed: Array<{ family: Family; err: unknown }> = [];
    let tried = 0;
    for (const family of FAMILIES) {
      // A family the broker is behind on (gated), or whose last try failed, waits; the others go on.
      if (this.abort.signal.aborted || this.gates.holds(family) || this.backoff.waiting(family)) continue;
      tried += 1;
      try {
        const n = await relayFamily(
          (fn) => database.transaction(fn),
          family,
          limits,
          actor,
          (rows) => this.publish(family, rows),
          (total) => this.counters.inflight.set({ family }, total),
        );
        this.backoff.succeeded(family);
        this.counters.published.inc({ family }, n);
        moved += n;
      } catch (err) {
        if (this.abort.signal.aborted) throw err; // stopping: the batch rolled back; nothing to count
        failed.push({ family, err });
      }
    }
    this.published += moved;
    // Nothing went through (the database is away, say): counted, then the run loop backs off.
    const nothingWent = failed.length > 0 && failed.length === tried;
    for (const { family, err } of failed) this.backoff.failed(family, err, !nothingWent);
    if (nothingWent) throw (failed[0] as { err: unknown }).err;
    return moved + expired;
  }

  private reopen(): void {
    this.reopenWanted = true;
    this.wake();
  }

  /**
   * Publishes a batch and waits for every confirm, at most `confirmTimeoutMs`: past it the cycle
   * fails and its transaction rolls back, so that its rows do not stay locked (`cmq cancel` of
   * one would wait) for as long as a broker blocked by a resource alarm confirms nothing. What was
   * sent may still arrive later, beside the copy a later cycle sends (a claim runs an action
   * once); nothing more goes to the family's queue until those confirms settle (ConfirmGates),
   * so a broker that is merely slow gets one such copy, not one every cycle. Stopping (close)
   * does not wait for confirms either.
   */
  private async publish(family: Family, rows: DueAction[]): Promise<void> {
    let confirmed = 0;
    let settled = 0;
    const sends = rows.map(async (row) => {
      const m = encodeAction(row);
      try {
        await this.opts.amqp.publish(Exchanges.actions, m.routingKey, m.body, {
          messageId: m.messageId,
          contentType: 'application/json',
        });
        confirmed += 1;
      } finally {
        settled += 1;
      }
    });
    const ms = this.opts.confirmTimeoutMs;
    try {
      await withDeadline(
        Promise.all(sends),
        ms,
        (stopped) => {
          if (stopped)
            return new CmqError(
              'CMQ_ERR_BROKER_UNAVAILABLE',
              `stopping with ${rows.length - confirmed} of ${rows.length} actions not yet confirmed by the broker; the batch is rolled back and stays due`,
            );
          return new CmqError(
            'CMQ_ERR_BROKER_UNAVAILABLE',
            `the broker confirmed ${confirmed} of ${rows.length} actions within relay.confirm_timeout (${ms} ms)${this.opts.amqp.blockedNote()}; the batch is rolled back and stays due`,
            { transient: true },
          );
        },
        this.abort.signal,
      );
    } catch (err) {
      if (settled < rows.length) this.gates.hold(family, sends, rows.length, () => rows.length - settled);
      throw err;
    }
  }
}
