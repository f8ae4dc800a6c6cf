import { type DueAction, type RelayLimits, encodeAction, expireDue, msUntilNextDue, relayFamily } from '@cmq/actions';
import { type AmqpClient, type Component, type Database, Exchanges, FAMILIES, type Logger, type MetricsFile, backoffDelay, errorText, sleep } from '@cmq/common';
import { RelayMetrics } from './relay-metrics';

export interface RelayOptions {
  database: Database;
  amqp: AmqpClient;
  logger: Logger;
  limits: RelayLimits;
  /** Safety-net sweep when no notification arrives. */
  sweepIntervalMs: number;
  /** Who moved the rows, in action events. */
  actor: string;
  metrics: MetricsFile;
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

  constructor(private readonly opts: RelayOptions) {
    this.counters = new RelayMetrics(opts.metrics.registry, opts.limits.window);
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
    this.wakeUp?.();
    await this.loop;
  }

  destroy(): void {
    this.abort.abort();
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
    const wait = nextDue === undefined || nextDue === 0 ? this.opts.sweepIntervalMs : Math.min(nextDue + 5, this.opts.sweepIntervalMs);
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
    let moved = 0;
    for (const family of FAMILIES) {
      const n = await relayFamily((fn) => database.transaction(fn), family, limits, actor, (rows) => this.publish(rows), (total) => this.counters.inflight.set({ family }, total));
      this.counters.published.inc({ family }, n);
      moved += n;
    }
    this.published += moved;
    return moved + expired;
  }

  private async publish(rows: DueAction[]): Promise<void> {
    await Promise.all(
      rows.map((row) => {
        const m = encodeAction(row);
        return this.opts.amqp.publish(Exchanges.actions, m.routingKey, m.body, { messageId: m.messageId, contentType: 'application/json' });
      }),
    );
  }
}
