import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorText } from '../errors';
import { redisCall } from './redis-errors';
import { TOKEN_BUCKET_LUA } from './redis-token-bucket-script';

const SHA = createHash('sha1').update(TOKEN_BUCKET_LUA).digest('hex');

/** Arguments of one token bucket step (see the script: redis-token-bucket-script.ts). */
export interface TokenBucketStep {
  rate: number;
  burst: number;
  /** Recovery step after a penalty (ms). */
  stepMs: number;
  minFactor: number;
  mode: 'take' | 'penalize' | 'peek';
}

/** Token buckets in Redis (the rate limiter's state), each stepped by one Lua script. */
export class TokenBucketStore {
  constructor(private readonly redis: Redis) {}

  /**
   * Runs one step on the bucket at `key`: [wait ms (0: a token was taken), tokens × 1000, factor × 1e6].
   * The script is sent by its SHA, and whole only when Redis does not have it cached.
   * @throws DependencyUnavailableError when Redis is unavailable; Redis' reply error otherwise.
   */
  async step(key: string, s: TokenBucketStep): Promise<[number, number, number]> {
    const args = [String(s.rate), String(s.burst), String(s.stepMs), String(s.minFactor), s.mode];
    const reply: unknown = await redisCall('rate limiter token bucket', async () => {
      try {
        return await this.redis.evalsha(SHA, 1, key, ...args);
      } catch (err) {
        if (!errorText(err).startsWith('NOSCRIPT')) throw err;
        return await this.redis.eval(TOKEN_BUCKET_LUA, 1, key, ...args);
      }
    });
    const [wait, tokens, factor] = reply as [number, number, number];
    return [wait, tokens, factor];
  }
}
