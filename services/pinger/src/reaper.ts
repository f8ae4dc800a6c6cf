import { type BusyWorker, Recovery } from '@cmq/actions';
import type { Logger, RedisClient, Sql } from '@cmq/common';

export interface ReaperOptions {
  sql: Sql;
  redis: RedisClient;
  logger: Logger;
  /** A worker's heartbeat must be missing this long (one pinger interval) before it is reaped. */
  graceMs: number;
  actor: string;
}

/**
 * The pinger's part of recovery: the frozen-worker rule (heartbeat gone, see Recovery in
 * @cmq/actions), with the heartbeats read from Redis. An action `running` on a worker whose
 * heartbeat key has been gone for at least `graceMs` goes back to `pending`. When Redis does not
 * answer, nothing is reaped and the clock starts over.
 */
export class Reaper {
  private readonly recovery: Recovery;

  constructor(private readonly opts: ReaperOptions) {
    this.recovery = new Recovery({
      sql: opts.sql,
      logger: opts.logger,
      actor: opts.actor,
      heartbeats: { graceMs: opts.graceMs, probe: { alive: (workers) => this.heartbeats(workers) } },
    });
  }

  /** One pass; returns how many actions went back to pending. */
  tick(now: number = Date.now()): Promise<number> {
    return this.recovery.recoverFrozen(now);
  }

  /** Forgets what it saw (the lease was lost). */
  reset(): void {
    this.recovery.reset();
  }

  /** Whether each worker's heartbeat key exists. @throws when Redis does not answer. */
  private async heartbeats(workers: readonly BusyWorker[]): Promise<boolean[]> {
    if (workers.length === 0) return [];
    if (!this.opts.redis.ready) throw new Error('redis is not connected');
    return this.opts.redis.heartbeats.exist(workers);
  }
}
