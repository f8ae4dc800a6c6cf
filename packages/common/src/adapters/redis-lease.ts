import type { Redis } from 'ioredis';

/** Extends the lease only when `holder` still holds it (atomic: no one else's lease is touched). */
const RENEW =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/** Deletes the lease only when `holder` holds it. */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Leases in Redis: `SET <key> <holder> NX PX <ttl>`, renewed by their holder; a holder that stops
 * renewing loses the lease when the key expires.
 */
export class LeaseStore {
  constructor(private readonly redis: Redis) {}

  /**
   * Takes the lease `key` when free, or renews it when `holder` holds it; true while `holder` holds it.
   * @throws the Redis error when Redis does not answer.
   */
  async acquire(key: string, holder: string, ttlMs: number): Promise<boolean> {
    const taken = await this.redis.set(key, holder, 'PX', ttlMs, 'NX');
    if (taken === 'OK') return true;
    return (await this.redis.eval(RENEW, 1, key, holder, String(ttlMs))) === 1;
  }

  /** Gives the lease up when `holder` holds it. @throws the Redis error when Redis does not answer. */
  async release(key: string, holder: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, key, holder);
  }
}
