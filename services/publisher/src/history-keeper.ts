import {
  HISTORY_LEASE,
  type RetentionReport,
  type RetentionSettings,
  acquireSyncLease,
  releaseSyncLease,
  runRetention,
} from '@cmq/actions';
import { type Component, type Database, type Logger, errorText, every } from '@cmq/common';

export interface HistoryKeeperOptions {
  database: Database;
  logger: Logger;
  /** publisher.properties history.* (retention, batch, partitions ahead). */
  settings: RetentionSettings;
  /** publisher.properties history.batch_pause: rest after each full batch. */
  batchPauseMs: number;
  /** publisher.properties history.interval: time between two passes. */
  intervalMs: number;
  /** publisher.properties history.lease. */
  leaseMs: number;
  /** Holds the lease. */
  actor: string;
}

/**
 * Applies retention (docs/history.md): several publishers run it, the one holding the history
 * lease (a row of sync_lease, like the sync scheduler's) makes a pass every interval, renewing
 * the lease between its steps; a standby takes over once the holder's lease has expired.
 */
export class HistoryKeeper implements Component {
  readonly name = 'history-keeper';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private holding = false;
  private lastPass = 0;

  constructor(private readonly opts: HistoryKeeperOptions) {}

  start(): Promise<void> {
    const look = Math.max(1_000, Math.min(this.opts.intervalMs, Math.floor(this.opts.leaseMs / 3)));
    this.loop = every(
      look,
      this.abort.signal,
      () => this.tick(),
      (err) => this.opts.logger.warn({ err: errorText(err) }, 'history retention failed; retrying'),
    );
    return Promise.resolve();
  }

  private async renew(): Promise<boolean> {
    const { database, actor, leaseMs, logger } = this.opts;
    let held = false;
    try {
      held = await acquireSyncLease(database.sql, actor, leaseMs, HISTORY_LEASE);
    } finally {
      if (held !== this.holding) {
        if (held) logger.info('holding the history lease: applying retention');
        else logger.warn('lost the history lease: standing by');
      }
      this.holding = held;
    }
    return held;
  }

  private async tick(): Promise<void> {
    if (!(await this.renew())) return;
    if (Date.now() - this.lastPass < this.opts.intervalMs) return;
    const started = Date.now();
    const { database } = this.opts;
    const report = await runRetention(database.sql, (fn) => database.transaction(fn), this.opts.settings, {
      signal: this.abort.signal,
      stillHolding: () => this.renew(),
      batchPauseMs: this.opts.batchPauseMs,
    });
    this.lastPass = Date.now();
    this.log(report, this.lastPass - started);
  }

  private log(report: RetentionReport, ms: number): void {
    const actions = report.actions.reduce((n, c) => n + c.actions, 0);
    const events = report.actions.reduce((n, c) => n + c.events, 0);
    const rows = Object.values(report.tables).reduce((n, c) => n + c, 0);
    const touched = actions + rows + report.partitionsCreated + report.partitionsDropped.length > 0;
    const fields = { actions, events, tables: report.tables, ...partitions(report), ms };
    if (touched) this.opts.logger.info(fields, 'history retention pass');
    else this.opts.logger.debug(fields, 'history retention pass: nothing due');
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.holding) {
      this.holding = false;
      await releaseSyncLease(this.opts.database.sql, this.opts.actor, HISTORY_LEASE).catch((err: unknown) =>
        this.opts.logger.warn({ err: errorText(err) }, 'could not release the history lease (it expires by itself)'),
      );
    }
  }

  destroy(): void {
    this.abort.abort();
  }
}

function partitions(report: RetentionReport): { partitionsCreated: number; partitionsDropped: string[] } {
  return { partitionsCreated: report.partitionsCreated, partitionsDropped: report.partitionsDropped };
}
