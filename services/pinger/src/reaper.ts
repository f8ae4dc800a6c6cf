import { type BusyWorker, busyWorkers, reapWorker, workerLabel } from '@cmq/actions';
import { type Logger, type RedisClient, type Sql, heartbeatKey } from '@cmq/common';

export interface ReaperOptions {
  sql: Sql;
  redis: RedisClient;
  logger: Logger;
  /** A worker's heartbeat must be missing this long (one pinger interval) before it is reaped. */
  graceMs: number;
  actor: string;
}

/**
 * Gives back the work of workers that stopped heartbeating: an action `running` on a worker
 * whose heartbeat key has been gone from Redis for at least `graceMs` goes back to `pending`
 * (fenced on the worker, with an event saying why), and the relay is woken. It decides only on
 * what Redis answered: when Redis does not answer, nothing is reaped and the clock starts over.
 * A frozen worker that wakes up later cannot commit over the rerun (its commit is fenced too).
 */
export class Reaper {
  /** Worker id → when its heartbeat was first seen missing. */
  private readonly missingSince = new Map<string, number>();

  constructor(private readonly opts: ReaperOptions) {}

  /** One pass; returns how many actions went back to pending. */
  async tick(now: number = Date.now()): Promise<number> {
    const workers = await busyWorkers(this.opts.sql);
    let alive: boolean[];
    try {
      alive = await this.heartbeats(workers);
    } catch (err) {
      this.missingSince.clear();
      throw err;
    }
    const busy = new Set(workers.map((w) => w.id));
    for (const id of this.missingSince.keys()) if (!busy.has(id)) this.missingSince.delete(id);
    let reaped = 0;
    for (const [i, worker] of workers.entries()) {
      if (alive[i] === true) {
        this.missingSince.delete(worker.id);
        continue;
      }
      const since = this.missingSince.get(worker.id) ?? now;
      this.missingSince.set(worker.id, since);
      if (now - since < this.opts.graceMs) continue;
      reaped += await this.reap(worker, now - since);
    }
    return reaped;
  }

  /** Forgets what it saw (the lease was lost). */
  reset(): void {
    this.missingSince.clear();
  }

  /** Whether each worker's heartbeat key exists. @throws when Redis does not answer. */
  private async heartbeats(workers: readonly BusyWorker[]): Promise<boolean[]> {
    if (workers.length === 0) return [];
    if (!this.opts.redis.ready) throw new Error('redis is not connected');
    const pipeline = this.opts.redis.redis.pipeline();
    for (const w of workers) pipeline.exists(heartbeatKey(w.service, w.name, w.host, w.pid));
    const results = (await pipeline.exec()) ?? [];
    return workers.map((w, i) => {
      const [err, n] = results[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return n === 1;
    });
  }

  private async reap(worker: BusyWorker, missingMs: number): Promise<number> {
    const label = workerLabel(worker);
    const ids = await reapWorker(
      this.opts.sql,
      worker.id,
      this.opts.actor,
      `reaped: worker ${label} stopped heartbeating`,
    );
    this.missingSince.delete(worker.id);
    if (ids.length > 0)
      this.opts.logger.warn(
        { worker: label, workerId: worker.id, missingMs, actions: ids },
        `reaped ${ids.length} action(s) of worker ${label}: no heartbeat for ${Math.round(missingMs / 1000)} s`,
      );
    return ids.length;
  }
}
