import { hostname } from 'node:os';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { RedisClient } from '../adapters/redis';
import type { HeartbeatId } from '../adapters/redis-heartbeats';
import { errorText } from '../errors';
import type { Logger } from '../logging/logging';
import type { Component } from './component';
import { every } from './timing';

/** Counters a process reports in each heartbeat. */
export interface HeartbeatStats {
  queues: readonly string[];
  inFlight: number;
  processed: number;
  failed: number;
  /**
   * Families told to stop consuming (worker control's `pause`): who said so and when (ISO). The
   * `paused` field holds it as JSON, '' when none.
   */
  paused?: Readonly<Record<string, { by: string; at: string }>>;
}

export interface HeartbeatOptions {
  service: string;
  name: string;
  version: string;
  intervalMs: number;
  redis: RedisClient;
  logger: Logger;
  stats: () => HeartbeatStats;
  /** What the process waits for (its `StatusBoard` summary), '' when nothing: the `waiting` field. */
  waiting?: () => string;
  /** The process's lifecycle state (`starting`, `running`, `draining`): the `state` field. */
  state?: () => string;
}

/** The longest `waiting` text a heartbeat carries; the rest is cut off with `…`. */
export const HEARTBEAT_WAITING_MAX = 500;

/**
 * `text` as a heartbeat carries it: on one line, at most {@link HEARTBEAT_WAITING_MAX}
 * characters, and without the user and password of any URL in it (the adapters' texts use
 * labels without them already; this keeps it so whatever a reason quotes).
 */
export function heartbeatWaiting(text: string): string {
  const flat = text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1');
  return flat.length <= HEARTBEAT_WAITING_MAX ? flat : `${flat.slice(0, HEARTBEAT_WAITING_MAX - 1)}…`;
}

/**
 * Every `intervalMs`, writes this process's heartbeat to Redis (a hash that expires after three
 * intervals, so a dead process disappears by itself) and a `heartbeat` line to its log.
 * A graceful stop deletes the hash. Fields: see `HeartbeatFields` in @cmq/actions; among them
 * `interval_ms`, `loop_lag_ms`, the event loop's delay (p99 over the last interval, ms), and
 * `waiting`, what the process waits for ('' when nothing; see {@link heartbeatWaiting}), and
 * `state`, its lifecycle state: a process beats from the moment Redis answers, so one still
 * `starting` (waiting for PostgreSQL or the broker) is seen, and says what it waits for.
 */
export class Heartbeat implements Component {
  readonly name = 'heartbeat';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly id: HeartbeatId;
  private readonly startedAt = new Date();
  private readonly lag: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private lastLagMs = 0;

  constructor(private readonly opts: HeartbeatOptions) {
    this.id = { service: opts.service, name: opts.name, host: hostname(), pid: process.pid };
  }

  start(): Promise<void> {
    this.lag.enable();
    this.loop = every(
      this.opts.intervalMs,
      this.abort.signal,
      () => this.beat(),
      (err) => {
        this.opts.logger.warn({ err: errorText(err) }, 'heartbeat not written to redis');
      },
    );
    return Promise.resolve();
  }

  /**
   * Writes the heartbeat now, between two regular ones, so that a change of state or of what the
   * process waits for is seen at once rather than up to an interval later (a subscriber that
   * starts consuming counts as a consumer from then on). Nothing before start() or after close().
   */
  refresh(): void {
    if (this.loop === undefined || this.abort.signal.aborted || !this.opts.redis.ready) return;
    this.write(this.opts.stats(), this.lastLagMs, process.memoryUsage.rss()).catch((err: unknown) => {
      this.opts.logger.warn({ err: errorText(err) }, 'heartbeat not written to redis');
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.lag.disable();
    if (this.opts.redis.ready) await this.opts.redis.heartbeats.remove(this.id).catch(() => undefined);
  }

  destroy(): void {
    this.abort.abort();
    this.lag.disable();
  }

  /** The event loop's delay since the last call (p99, ms, one decimal), then starts over. */
  private loopLagMs(): number {
    const lag = this.lag.count > 0 ? this.lag.percentile(99) / 1e6 : 0;
    this.lag.reset();
    return Math.round(lag * 10) / 10;
  }

  private async beat(): Promise<void> {
    const stats = this.opts.stats();
    const loopLagMs = this.loopLagMs();
    this.lastLagMs = loopLagMs;
    const rss = process.memoryUsage.rss();
    this.opts.logger.info({ ...stats, rss, loopLagMs }, 'heartbeat');
    await this.write(stats, loopLagMs, rss);
  }

  private async write(stats: HeartbeatStats, loopLagMs: number, rss: number): Promise<void> {
    const fields = {
      service: this.opts.service,
      name: this.opts.name,
      host: hostname(),
      pid: String(process.pid),
      version: this.opts.version,
      started_at: this.startedAt.toISOString(),
      at: new Date().toISOString(),
      queues: stats.queues.join(','),
      in_flight: String(stats.inFlight),
      processed: String(stats.processed),
      failed: String(stats.failed),
      rss: String(rss),
      interval_ms: String(this.opts.intervalMs),
      loop_lag_ms: String(loopLagMs),
      waiting: heartbeatWaiting(this.opts.waiting?.() ?? ''),
      state: this.opts.state?.() ?? '',
      paused: stats.paused === undefined || Object.keys(stats.paused).length === 0 ? '' : JSON.stringify(stats.paused),
    };
    await this.opts.redis.heartbeats.write(this.id, fields, this.opts.intervalMs * 3);
  }
}
