import { type SyncIntervals, acquireSyncLease, clampSchedule, emitDueSyncs, releaseSyncLease } from '@cmq/actions';
import { type Component, type Database, type Logger, errorText, every } from '@cmq/common';

export interface SyncSchedulerOptions {
  database: Database;
  logger: Logger;
  /** publisher.properties sync.interval.*. */
  intervals: SyncIntervals;
  /** publisher.properties sync.jitter. */
  jitter: number;
  /** publisher.properties sync.lease. */
  leaseMs: number;
  /** Holds the lease and inserts the actions. */
  actor: string;
}

/** Most runs emitted in one transaction; a bigger backlog takes several in a row. */
const BATCH = 500;

/**
 * Emits `sync.<kind>` for every enabled account of an enabled tenant at its kind's interval.
 * Several publishers run it; the one holding the lease (a row of sync_lease, PostgreSQL's
 * clock) schedules, renewing it every look (a third of the lease at most). When the holder dies
 * (kill -9, cut off), its lease expires and a standby takes it at its next look: within the lease
 * time plus one look. The next run of each account and kind is persisted in sync_schedule and
 * advanced in the transaction that inserts the run (see emitDueSyncs), so a failover neither skips
 * nor doubles one.
 */
export class SyncScheduler implements Component {
  readonly name = 'sync-scheduler';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private holding = false;

  constructor(private readonly opts: SyncSchedulerOptions) {}

  /** Whether this publisher holds the scheduling lease (as of its last look). */
  get holder(): boolean {
    return this.holding;
  }

  start(): Promise<void> {
    const shortest = Math.min(...Object.values(this.opts.intervals));
    const look = Math.max(50, Math.min(1_000, Math.floor(this.opts.leaseMs / 3), Math.floor(shortest / 4)));
    this.loop = every(
      look,
      this.abort.signal,
      () => this.tick(),
      (err) => this.opts.logger.warn({ err: errorText(err) }, 'sync scheduling failed; retrying'),
    );
    return Promise.resolve();
  }

  private async tick(): Promise<void> {
    const { database, logger, actor, leaseMs, intervals, jitter } = this.opts;
    let held: boolean;
    try {
      held = await acquireSyncLease(database.sql, actor, leaseMs);
    } catch (err) {
      this.holding = false;
      throw err;
    }
    const options = { intervals, jitter, actor, batch: BATCH };
    if (held !== this.holding) {
      if (held) {
        // Runs planned under a longer interval than configured now are pulled in.
        await clampSchedule(database.sql, options);
        logger.info({ leaseMs }, 'holding the sync scheduling lease: scheduling cloud syncs');
      } else logger.warn('lost the sync scheduling lease: standing by');
      this.holding = held;
    }
    if (!held) return;
    for (;;) {
      const emitted = await emitDueSyncs((fn) => database.transaction(fn), options);
      if (emitted === undefined) {
        this.holding = false;
        logger.warn('lost the sync scheduling lease: standing by');
        return;
      }
      if (emitted > 0) logger.debug({ runs: emitted }, 'cloud syncs scheduled');
      if (emitted < BATCH || this.abort.signal.aborted) return;
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.holding) {
      this.holding = false;
      await releaseSyncLease(this.opts.database.sql, this.opts.actor).catch((err: unknown) =>
        this.opts.logger.warn(
          { err: errorText(err) },
          'could not release the sync scheduling lease (it expires by itself)',
        ),
      );
    }
  }

  destroy(): void {
    this.abort.abort();
  }
}
