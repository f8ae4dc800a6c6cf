import type { AmqpConsumer, Database, Dependency, Logger, RedisClient } from '@cmq/common';
import { errorText } from '@cmq/common';

/**
 * Stops the subscriber taking deliveries while a dependency its runs need is away (PostgreSQL:
 * claims and commits; Redis: the rate limiter, run counters, caches), and starts it again once
 * every one is back. The broker keeps the messages ready meanwhile (for a subscriber elsewhere
 * whose dependencies answer, or for this one later), so no action is claimed only to be held
 * back. Deliveries already received run as usual: one that meets the outage is held back
 * without counting its attempt (outcome-decision.ts).
 */
export class DependencyGate {
  private readonly down = new Set<Dependency>();
  /** Pauses and resumes, one after the other in the order decided. */
  private turn: Promise<void> = Promise.resolve();

  constructor(
    private readonly consumer: AmqpConsumer,
    private readonly logger: Logger,
  ) {}

  /** Follows Redis' and PostgreSQL's availability from now on. */
  watch(redis: RedisClient, database: Database): void {
    redis.onAvailability((up) => this.set('redis', up));
    database.onAvailability((up) => this.set('postgres', up));
    if (!redis.ready) this.set('redis', false);
    if (!database.available) this.set('postgres', false);
  }

  private set(dependency: Dependency, up: boolean): void {
    const wasOpen = this.down.size === 0;
    if (up === !this.down.has(dependency)) return;
    if (up) this.down.delete(dependency);
    else this.down.add(dependency);
    const open = this.down.size === 0;
    if (open === wasOpen) return;
    const waiting = [...this.down].join(', ');
    // Said once the broker has answered: from the "paused" line on, no consumer is left.
    const done = (): void => {
      if (!open) this.logger.warn({ waitingFor: waiting }, `consumption paused: waiting for ${waiting}`);
      else this.logger.info({ back: dependency }, `consumption resumed: ${dependency} is back`);
    };
    this.turn = this.turn
      .then(() => (open ? this.consumer.resume() : this.consumer.pause()))
      .then(done, (err: unknown) =>
        this.logger.error(
          { err: errorText(err) },
          open ? 'consumption could not resume' : 'consumption could not pause',
        ),
      );
  }
}
