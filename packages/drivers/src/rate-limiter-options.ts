export interface RateLimiterOptions {
  /** Redis key prefix; default RATE_LIMIT_KEY_PREFIX of @cmq/common. */
  prefix?: string;
  /** Default tokens per second (provisioning.cfg), overridable per account. */
  rate: number;
  /** Default bucket size, overridable per account. */
  burst: number;
  /** After a penalty, the rate doubles back once per step; default 30 s. */
  penaltyStepMs?: number;
  /** Penalties never slow an account below rate × this; default 1/16. */
  minRateFactor?: number;
  /** Longest single sleep while waiting for a token (so penalties and refills are noticed); default 1 s. */
  maxSleepMs?: number;
}

/** An account as the limiter sees it: its id and, where set, its own rate and burst. */
export interface RateAccount {
  id: string;
  rate?: number;
  burst?: number;
}
