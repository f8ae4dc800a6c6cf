import { PINGER_LEASE_KEY, type RedisClient } from '@cmq/common';

/**
 * The pinger lease in Redis ({@link PINGER_LEASE_KEY}, taken with `SET NX PX`), renewed by its holder each
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
  acquire(): Promise<boolean> {
    return this.redis.leases.acquire(this.key, this.me, this.ttlMs);
  }

  /** Gives the lease up (graceful stop) so a standby takes over at its next tick. Never throws. */
  async release(): Promise<void> {
    if (!this.redis.ready) return;
    await this.redis.leases.release(this.key, this.me).catch(() => undefined);
  }
}
