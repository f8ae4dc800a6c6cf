import type { Logger, Sql } from '@cmq/common';
import { type BusyWorker, busyWorkers, orphanedRunning, reapOrphans, reapWorker, workerLabel } from './recovery-store';

/**
 * Recovery: the work of a worker that stopped goes back to the relay (`running` → `pending`, an
 * event saying why, the relay woken) and runs again. Two rules, each with a grace period so that
 * a blip is not taken for a stop:
 *
 * - **Lock gone: the worker is dead.** A subscriber holds an advisory lock on its own id in its
 *   database session for its whole life; when the process dies, PostgreSQL ends the session and
 *   the lock with it. An action running on a worker without its lock at two looks
 *   {@link DEAD_GRACE_MS} apart goes back (the grace lets live workers take their locks again
 *   after a database restart). Needs only PostgreSQL: the publisher runs it, so work comes back
 *   even when no pinger runs.
 * - **Heartbeat gone: the worker is frozen.** A process stopped (SIGSTOP), hung, or cut off from
 *   Redis keeps its session and lock but stops writing its heartbeat. An action running on a
 *   worker whose heartbeat has been missing for the grace (one pinger interval) goes back. Decided
 *   only on what the heartbeat store answered: when it does not answer, nothing is reaped and the
 *   clock starts over. The pinger holding the lease runs it.
 *
 * A frozen worker that wakes up cannot commit over the rerun: commits are fenced on worker and
 * attempt. The fast path is the claim's takeover (claim-store.ts): a dead worker's unacked
 * message comes back from the broker at once, and a subscriber claiming it takes the running row
 * over when its worker's lock is gone, without waiting for either rule.
 */

/** How often the dead-worker rule looks for running actions without their worker's lock. */
export const DEAD_LOOK_MS = 5_000;
/** How long such an action must stay without its worker's lock before it goes back. */
export const DEAD_GRACE_MS = 10_000;

/** Why a dead-worker's action went back, for the log (the event's reason names the worker). */
const DEAD_LOG = 'running actions of workers that are gone sent back to the relay';

/** The event reason of an action taken from a frozen worker. */
export function frozenReason(label: string): string {
  return `reaped: worker ${label} stopped heartbeating`;
}

/**
 * Remembers since when each key has been missing, and tells which have been missing for the
 * whole grace period. A key seen present (or no longer looked at) starts over. Pure: the caller
 * passes the clock.
 */
export class GraceClock<K> {
  private readonly since = new Map<K, number>();

  constructor(readonly graceMs: number) {}

  /** Records the keys missing `now` (and forgets all others); returns those missing for at least the grace. */
  observe(missing: Iterable<K>, now: number): K[] {
    const current = new Set(missing);
    for (const key of this.since.keys()) if (!current.has(key)) this.since.delete(key);
    const due: K[] = [];
    for (const key of current) {
      const since = this.since.get(key) ?? now;
      this.since.set(key, since);
      if (now - since >= this.graceMs) due.push(key);
    }
    return due;
  }

  /** Since when `key` has been missing (undefined: it is not). */
  missingSince(key: K): number | undefined {
    return this.since.get(key);
  }

  /** Starts `key` over (it was dealt with). */
  forget(key: K): void {
    this.since.delete(key);
  }

  /** Starts every key over. */
  reset(): void {
    this.since.clear();
  }
}

/** Tells which workers still write their heartbeat. */
export interface HeartbeatProbe {
  /** Whether each worker's heartbeat exists, in order. @throws when the store does not answer. */
  alive(workers: readonly BusyWorker[]): Promise<boolean[]>;
}

export interface RecoveryOptions {
  sql: Sql;
  logger: Logger;
  /** Who gave the work back, in action events. */
  actor: string;
  /** The heartbeat rule's probe and grace; without them only the dead-worker rule can run. */
  heartbeats?: { probe: HeartbeatProbe; graceMs: number };
  /** Override of DEAD_LOOK_MS / DEAD_GRACE_MS (tests). */
  dead?: { lookMs: number; graceMs: number };
}

/** The one owner of recovery: both rules, each one pass at a time, run by the process that has what it needs. */
export class Recovery {
  private readonly orphans: GraceClock<string>;
  private readonly frozen: GraceClock<string> | undefined;
  private readonly lookMs: number;
  private lastLook = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: RecoveryOptions) {
    this.lookMs = opts.dead?.lookMs ?? DEAD_LOOK_MS;
    this.orphans = new GraceClock(opts.dead?.graceMs ?? DEAD_GRACE_MS);
    this.frozen = opts.heartbeats && new GraceClock(opts.heartbeats.graceMs);
  }

  /**
   * The dead-worker rule (lock gone), at most once per look interval (0 between looks).
   * @returns how many actions went back to pending.
   */
  async recoverDead(now: number = Date.now()): Promise<number> {
    if (now - this.lastLook < this.lookMs) return 0;
    this.lastLook = now;
    const { sql, actor, logger } = this.opts;
    const due = this.orphans.observe(await orphanedRunning(sql), now);
    const reaped = await reapOrphans(sql, due, actor);
    for (const id of due) this.orphans.forget(id);
    if (reaped > 0) logger.warn({ reaped }, DEAD_LOG);
    return reaped;
  }

  /**
   * The frozen-worker rule (heartbeat gone). When the probe fails, what was seen is forgotten
   * and the error thrown. @returns how many actions went back to pending.
   */
  async recoverFrozen(now: number = Date.now()): Promise<number> {
    const { heartbeats } = this.opts;
    const clock = this.frozen;
    if (heartbeats === undefined || clock === undefined) throw new Error('recovery was made without a heartbeat probe');
    const workers = await busyWorkers(this.opts.sql);
    let alive: boolean[];
    try {
      alive = workers.length === 0 ? [] : await heartbeats.probe.alive(workers);
    } catch (err) {
      clock.reset();
      throw err;
    }
    const byId = new Map(workers.map((w) => [w.id, w]));
    const missing = workers.filter((_, i) => alive[i] !== true).map((w) => w.id);
    let reaped = 0;
    for (const id of clock.observe(missing, now)) {
      reaped += await this.reapFrozen(byId.get(id) as BusyWorker, now - (clock.missingSince(id) ?? now));
      clock.forget(id);
    }
    return reaped;
  }

  /** Forgets what both rules saw (the pinger lost its lease). */
  reset(): void {
    this.orphans.reset();
    this.frozen?.reset();
  }

  private async reapFrozen(worker: BusyWorker, missingMs: number): Promise<number> {
    const label = workerLabel(worker);
    const ids = await reapWorker(this.opts.sql, worker.id, this.opts.actor, frozenReason(label));
    if (ids.length > 0)
      this.opts.logger.warn(
        { worker: label, workerId: worker.id, missingMs, actions: ids },
        `reaped ${ids.length} action(s) of worker ${label}: no heartbeat for ${Math.round(missingMs / 1000)} s`,
      );
    return ids.length;
  }
}
