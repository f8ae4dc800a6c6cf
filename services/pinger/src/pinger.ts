import {
  type CanaryReport,
  type FamilyHealth,
  type PingerSummary,
  Recovery,
  deadSince,
  pruneHistory,
  recordSummary,
} from '@cmq/actions';
import {
  type AmqpClient,
  type Component,
  type Database,
  FAMILIES,
  type Family,
  type Logger,
  type RedisClient,
  errorText,
  every,
} from '@cmq/common';
import { Canaries } from './canary';
import type { PingerConfig } from '@cmq/config';
import { heartbeatProbe } from './heartbeat-probe';
import { PingerLease } from './lease';
import { type Measurements, measure } from './queue-health';

export interface PingerOptions {
  database: Database;
  redis: RedisClient;
  amqp: AmqpClient;
  logger: Logger;
  /** `pinger:<name>@<host>:<pid>`: the lease holder's value, the summary's `pinger`, the actor in events. */
  identity: string;
  config: Pick<PingerConfig, 'pinger' | 'canary' | 'history'>;
  /** Told every summary this pinger makes (its metrics). */
  onSummary?: (summary: PingerSummary) => void;
}

/**
 * Every `pinger.interval`: takes or renews the pinger lease; the holder sends canaries,
 * measures queues and dependencies, lists the live processes that wait for something (their
 * heartbeats' `waiting`), reaps the work of workers that stopped heartbeating, and writes the
 * summary (Redis `PINGER_SUMMARY_KEY`, and a `pinger_history` row) and prunes old history. A
 * pinger without the lease writes nothing (standby) and takes over when the holder's lease
 * expires.
 */
export class Pinger implements Component {
  readonly name = 'pinger';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly lease: PingerLease;
  private readonly canaries: Canaries;
  /** The frozen-worker rule: reaps the work of a worker whose heartbeat is gone one interval. */
  private readonly reaper: Recovery;
  private readonly intervalMs: number;
  private role: 'unknown' | 'holder' | 'standby' = 'unknown';
  /** Summaries written since start (the holder's work). */
  ticks = 0;

  constructor(private readonly opts: PingerOptions) {
    const { database, redis, logger, identity, config } = opts;
    this.intervalMs = config.pinger.interval;
    this.lease = new PingerLease(redis, identity, 2 * this.intervalMs);
    this.canaries = new Canaries({
      sql: database.sql,
      transaction: (fn) => database.transaction(fn),
      families: config.canary.families,
      timeoutMs: config.canary.timeout,
      actor: identity,
    });
    this.reaper = new Recovery({
      sql: database.sql,
      logger: logger.child({ component: 'reaper' }),
      actor: identity,
      heartbeats: { graceMs: this.intervalMs, probe: heartbeatProbe(redis) },
    });
  }

  /** True while this pinger holds the lease. */
  get holder(): boolean {
    return this.role === 'holder';
  }

  start(): Promise<void> {
    this.loop = every(
      this.intervalMs,
      this.abort.signal,
      () => this.tick(),
      (err) => this.opts.logger.warn({ err: errorText(err) }, 'pinger tick failed'),
    );
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.role === 'holder') await this.lease.release();
  }

  destroy(): void {
    this.abort.abort();
  }

  /** One interval's work (public for tests). */
  async tick(): Promise<void> {
    let holds = false;
    try {
      holds = await this.lease.acquire();
    } catch (err) {
      this.opts.logger.debug({ err: errorText(err) }, 'cannot reach redis for the pinger lease');
    }
    this.setRole(holds ? 'holder' : 'standby');
    if (!holds) return;
    const summary = await this.summarize();
    this.opts.onSummary?.(summary);
    await this.publish(summary);
    this.ticks += 1;
  }

  private setRole(role: 'holder' | 'standby'): void {
    if (role === this.role) return;
    this.role = role;
    if (role === 'holder')
      this.opts.logger.info({ pinger: this.opts.identity }, 'holding the pinger lease: canaries, reaper, summary');
    else {
      this.canaries.reset();
      this.reaper.reset();
      this.opts.logger.info(
        { pinger: this.opts.identity },
        'standby: another pinger holds the lease (or redis does not answer); writing nothing',
      );
    }
  }

  private async summarize(): Promise<PingerSummary> {
    const { database, redis, amqp, logger } = this.opts;
    const [measured, canaries] = await Promise.all([
      measure({ database, redis, amqp }, Math.max(1_000, Math.min(this.intervalMs, 5_000))),
      this.runCanaries(),
    ]);
    const reaped = measured.dependencies.redis.ok ? await this.runReaper() : 0;
    const dead = await deadSince(database.sql, this.intervalMs).catch((err: unknown) => {
      logger.debug({ err: errorText(err) }, 'cannot count dead actions');
      return 0;
    });
    return {
      at: new Date().toISOString(),
      pinger: this.opts.identity,
      interval_ms: this.intervalMs,
      dependencies: measured.dependencies,
      families: familiesOf(measured, canaries),
      dead_last_interval: dead,
      reaped_last_interval: reaped,
      waiting: measured.waiting ?? [],
    };
  }

  private async runCanaries(): Promise<Record<Family, CanaryReport>> {
    try {
      return await this.canaries.tick();
    } catch (err) {
      this.opts.logger.warn({ err: errorText(err) }, 'canaries not sent or read');
      return this.canaries.reports();
    }
  }

  private async runReaper(): Promise<number> {
    try {
      return await this.reaper.recoverFrozen();
    } catch (err) {
      this.opts.logger.warn({ err: errorText(err) }, 'reaper pass failed; nothing reaped');
      return 0;
    }
  }

  /** Writes the summary to Redis and PostgreSQL and prunes the history; each step on its own. */
  private async publish(summary: PingerSummary): Promise<void> {
    const { database, redis, logger, config } = this.opts;
    logger.debug({ summary }, 'pinger summary');
    const json = JSON.stringify(summary);
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['summary not written to redis', () => redis.pingerSummary.write(json, 3 * this.intervalMs)],
      ['summary not recorded in pinger_history', () => recordSummary(database.sql, summary)],
      ['pinger_history not pruned', () => pruneHistory(database.sql, config.history.retention)],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (err) {
        logger.warn({ err: errorText(err) }, what);
      }
    }
  }
}

function familiesOf(m: Measurements, canaries: Record<Family, CanaryReport>): Record<Family, FamilyHealth> {
  const out = {} as Record<Family, FamilyHealth>;
  for (const family of FAMILIES) {
    const counts = m.counts?.[family] ?? { backlog: 0, queued: 0, running: 0, oldest_age_s: null };
    out[family] = {
      consumers: m.consumers?.[family] ?? 0,
      ...counts,
      broker_depth: m.depths?.[family] ?? null,
      canary: canaries[family],
    };
  }
  return out;
}
