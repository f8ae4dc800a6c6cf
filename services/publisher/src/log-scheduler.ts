import { logSlot, scheduleLogCollection } from '@cmq/actions';
import { type Component, type Database, type Logger, errorText, every } from '@cmq/common';

export interface LogSchedulerOptions {
  database: Database;
  logger: Logger;
  /** publisher.properties `logs.collect_interval`. */
  intervalMs: number;
  /** publisher.properties `logs.paths`: for guests without their own `log_paths`. */
  defaultPaths: readonly string[];
  actor: string;
}

/**
 * Schedules `guest.logs.collect` once per guest per interval slot (floor(now / interval)).
 * It looks a few times per slot, so a late tick never skips one; the advisory lock and the
 * `logs:<guest>:<slot>` idempotency key mean several publishers, a restart or a failover
 * schedule each slot once.
 */
export class LogScheduler implements Component {
  readonly name = 'log-scheduler';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private lastSlot = -1;

  constructor(private readonly opts: LogSchedulerOptions) {}

  start(): Promise<void> {
    const look = Math.max(50, Math.floor(this.opts.intervalMs / 4));
    this.loop = every(
      look,
      this.abort.signal,
      () => this.tick(),
      (err) => this.opts.logger.warn({ err: errorText(err) }, 'log collection scheduling failed; retrying'),
    );
    return Promise.resolve();
  }

  private async tick(): Promise<void> {
    const { database, intervalMs, defaultPaths, actor, logger } = this.opts;
    const slot = logSlot(Date.now(), intervalMs);
    if (slot === this.lastSlot) return;
    const scheduled = await scheduleLogCollection((fn) => database.transaction(fn), slot, defaultPaths, actor);
    if (scheduled === undefined) return; // another publisher holds the lock: look again next tick
    this.lastSlot = slot;
    if (scheduled > 0) logger.debug({ slot, guests: scheduled }, 'guest log collection scheduled');
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  destroy(): void {
    this.abort.abort();
  }
}
