import type { Redis } from 'ioredis';
import { resourcesCacheKey, resourcesCacheStampKey } from '../names';
import { redisCall } from './redis-errors';

/**
 * Replaces the cached state of an account's resources of one kind, unless the cache already
 * holds a newer provider answer. KEYS: hash, stamp. ARGV: observed-at ms, then field, value pairs.
 */
const REPLACE_CACHE = `
local stamp = tonumber(redis.call('get', KEYS[2]) or '-1')
if stamp > tonumber(ARGV[1]) then return 0 end
redis.call('del', KEYS[1])
for i = 2, #ARGV, 2000 do
  redis.call('hset', KEYS[1], unpack(ARGV, i, math.min(i + 1999, #ARGV)))
end
redis.call('set', KEYS[2], ARGV[1])
return 1`;

/**
 * What a removed account's cache stamps are set to: newer than any provider answer, so a sync
 * that was in flight when the account went cannot write its answer back (the cache script
 * refuses older answers). They expire after a day, long after any such sync.
 */
export const REMOVED_ACCOUNT_STAMP = String(Number.MAX_SAFE_INTEGER);
const REMOVED_ACCOUNT_STAMP_TTL_S = 86_400;

/**
 * The latest state of each cloud account's resources, one hash per account and kind (field
 * resource id, value JSON state), with beside it the provider-answer time of the state it holds.
 */
export class ResourcesCacheStore {
  constructor(private readonly redis: Redis) {}

  /**
   * Replaces an account's cached resources of one kind with `states` (as the provider answered
   * at `observedAt`); false, writing nothing, when the cache holds a newer answer (or the account
   * was removed: {@link forget}).
   * @throws DependencyUnavailableError when Redis is unavailable.
   */
  async replace(
    tenant: string,
    account: string,
    kind: string,
    observedAt: Date,
    states: ReadonlyMap<string, unknown>,
  ): Promise<boolean> {
    const pairs: string[] = [];
    for (const [id, state] of states) pairs.push(id, JSON.stringify(state));
    const hash = resourcesCacheKey(tenant, account, kind);
    const stamp = resourcesCacheStampKey(tenant, account, kind);
    const done = await redisCall('resources cache', () =>
      this.redis.eval(REPLACE_CACHE, 2, hash, stamp, String(observedAt.getTime()), ...pairs),
    );
    return done === 1;
  }

  /** Drops a removed account's cached resources of each of `kinds` and fences late writes to them. */
  async forget(tenant: string, account: string, kinds: readonly string[]): Promise<void> {
    const tx = this.redis.multi();
    for (const kind of kinds) {
      tx.del(resourcesCacheKey(tenant, account, kind));
      tx.set(resourcesCacheStampKey(tenant, account, kind), REMOVED_ACCOUNT_STAMP, 'EX', REMOVED_ACCOUNT_STAMP_TTL_S);
    }
    await tx.exec();
  }
}
