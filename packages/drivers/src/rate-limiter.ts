import {
  CmqError,
  DependencyUnavailableError,
  RATE_LIMIT_KEY_PREFIX,
  type RedisClient,
  errorText,
  isDependencyUnavailable,
  sleep,
} from '@cmq/common';
import type { RateAccount, RateLimiterOptions } from './rate-limiter-options';

/** One account's bucket as Redis holds it now. */
export interface BucketState {
  tokens: number;
  /** 1 = full rate; 0.5 after one penalty, and so on. */
  factor: number;
}

/**
 * Per-cloud-account API rate limits: a token bucket per account kept only in Redis (one Lua
 * script, see TokenBucketStore), so every subscriber on every host draws from the same bucket. A throttling answer from
 * the provider calls `penalize`, which halves the account's effective rate; it recovers step by
 * step (doubling every `penaltyStepMs`) once the throttling stops.
 */
export class RateLimiter {
  private readonly prefix: string;
  private readonly stepMs: number;
  private readonly minFactor: number;
  private readonly maxSleepMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly opts: RateLimiterOptions,
  ) {
    if (!(opts.rate > 0) || !(opts.burst >= 1))
      throw new CmqError(
        'CMQ_ERR_RATE_LIMIT_CONFIG',
        `rate limiter: rate must be > 0 and burst >= 1 (got rate ${opts.rate}, burst ${opts.burst})`,
      );
    this.prefix = opts.prefix ?? RATE_LIMIT_KEY_PREFIX;
    this.stepMs = opts.penaltyStepMs ?? 30_000;
    this.minFactor = opts.minRateFactor ?? 1 / 16;
    this.maxSleepMs = opts.maxSleepMs ?? 1_000;
  }

  /**
   * Waits for a token of `account`'s bucket; resolves with the time waited (ms). Rejects with
   * the signal's reason when it aborts, and with a transient CmqError when Redis cannot answer.
   */
  async acquire(account: string | RateAccount, signal?: AbortSignal): Promise<number> {
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const [wait] = await this.run(account, 'take');
      if (wait === 0) return Date.now() - started;
      const jitter = Math.random() * Math.min(20, wait / 4);
      if (!(await sleep(Math.min(wait, this.maxSleepMs) + jitter, signal)))
        throw signal?.reason instanceof Error ? signal.reason : new Error('aborted');
    }
  }

  /** Takes a token if one is there; otherwise returns the wait (ms) without taking anything. */
  async tryAcquire(account: string | RateAccount): Promise<number> {
    const [wait] = await this.run(account, 'take');
    return wait;
  }

  /** After a throttling answer: halves the account's rate (to `minRateFactor` at most) and drains its bucket. */
  async penalize(account: string | RateAccount): Promise<BucketState> {
    const [, tokens, factor] = await this.run(account, 'penalize');
    return { tokens: tokens / 1000, factor: factor / 1e6 };
  }

  async state(account: string | RateAccount): Promise<BucketState> {
    const [, tokens, factor] = await this.run(account, 'peek');
    return { tokens: tokens / 1000, factor: factor / 1e6 };
  }

  /** The Redis key of an account's bucket (the hash tag keeps it on one Redis Cluster slot). */
  key(account: string | RateAccount): string {
    return `${this.prefix}:{${typeof account === 'string' ? account : account.id}}`;
  }

  private async run(
    account: string | RateAccount,
    mode: 'take' | 'penalize' | 'peek',
  ): Promise<[number, number, number]> {
    const a = typeof account === 'string' ? { id: account } : account;
    const step = {
      rate: a.rate ?? this.opts.rate,
      burst: a.burst ?? this.opts.burst,
      stepMs: this.stepMs,
      minFactor: this.minFactor,
      mode,
    };
    try {
      return await this.client.tokenBuckets.step(this.key(a), step);
    } catch (err) {
      // Redis away is an outage of cmq, not of this account: the action is held back, not failed.
      if (isDependencyUnavailable(err))
        throw new DependencyUnavailableError('redis', `rate limiter for account ${a.id}: ${errorText(err)}`, err);
      throw new CmqError(
        'CMQ_ERR_RATE_LIMIT_UNAVAILABLE',
        `rate limiter for account ${a.id}: redis did not answer (${errorText(err)})`,
        { cause: err, transient: true },
      );
    }
  }
}
