import type { Redis } from 'ioredis';
import { probeKey } from '../names';
import { redisCall } from './redis-errors';

/** The latest result of each probe on each target, as JSON at {@link probeKey} (the history is in PostgreSQL). */
export class ProbeStore {
  constructor(private readonly redis: Redis) {}

  /** Replaces the latest result of `probe` on `target`. @throws DependencyUnavailableError when Redis is unavailable. */
  async writeLatest(tenant: string, target: string, probe: string, result: unknown): Promise<void> {
    // Serialized first: a result that cannot be is the caller's error, not an outage of Redis.
    const json = JSON.stringify(result);
    await redisCall('latest probe result', () => this.redis.set(probeKey(tenant, target, probe), json));
  }
}
