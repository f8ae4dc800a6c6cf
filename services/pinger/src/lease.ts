import { PINGER_LEASE_KEY } from '@cmq/actions';
import type { RedisClient } from '@cmq/common';

/** Extends the lease only when `me` still holds it (atomic: no one else's lease is touched). */
const RENEW =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/** Deletes the lease only when `me` holds it. */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * The pinger lease in Redis: `SET cmq:pinger:lease <me> NX PX <ttl>`, renewed by its holder each
 * interval. The holder does the work that must happen once across pingers; if it stops renewing
 * (dead, frozen, cut off from Redis) the key expires and another pinger takes over.
 */
export class PingerLease {
  constructor(
    private readonly redis: RedisClient,
    private readonly me: string,
    private readonly ttlMs: number,
    private readonly key = PINGER_LEASE_KEY,
  ) {}

  /**
   * Takes the lease when free, or renews it when held by `me`. Resolves true while `me` holds it.
   * @throws the Redis error when Redis does not answer (the caller then acts as standby).
   */
  async acquire(): Promise<boolean> {
    const taken = await this.redis.redis.set(this.key, this.me, 'PX', this.ttlMs, 'NX');
    if (taken === 'OK') return true;
    const renewed = await this.redis.redis.eval(RENEW, 1, this.key, this.me, String(this.ttlMs));
    return renewed === 1;
  }

  /** Gives the lease up (graceful stop) so a standby takes over at its next tick. Never throws. */
  async release(): Promise<void> {
    if (!this.redis.ready) return;
    await this.redis.redis.eval(RELEASE, 1, this.key, this.me).catch(() => undefined);
  }
}
