import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorText } from '../errors';
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
   * @throws the Redis error when Redis does not answer.
   */
  async step(key: string, s: TokenBucketStep): Promise<[number, number, number]> {
    const args = [String(s.rate), String(s.burst), String(s.stepMs), String(s.minFactor), s.mode];
    let reply: unknown;
    try {
      reply = await this.redis.evalsha(SHA, 1, key, ...args);
    } catch (err) {
      if (!errorText(err).startsWith('NOSCRIPT')) throw err;
      reply = await this.redis.eval(TOKEN_BUCKET_LUA, 1, key, ...args);
    }
    const [wait, tokens, factor] = reply as [number, number, number];
    return [wait, tokens, factor];
  }
}
