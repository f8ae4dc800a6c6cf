import type { CallOptions, Driver, Firewall, LaunchRequest, Server, Spend, Volume } from './driver';
import { isThrottled } from './errors';
import type { RateAccount } from './rate-limiter-options';
import type { RateLimiter } from './rate-limiter';

/**
 * A driver whose every call first takes a token of the account's bucket. A throttling answer
 * penalizes the bucket and the call is tried again (up to `throttleRetries` times, default 3)
 * once the slowed bucket gives a token; the action's own attempts are not used. Only safe because
 * every call is idempotent: reads, terminate/reboot, and launch with its ClientToken.
 */
export class RateLimitedDriver implements Driver {
  readonly provider: string;
  readonly getSpend?: (opts?: CallOptions) => Promise<Spend>;

  constructor(
    private readonly inner: Driver,
    private readonly limiter: RateLimiter,
    private readonly account: RateAccount,
    private readonly throttleRetries = 3,
  ) {
    this.provider = inner.provider;
    const spend = inner.getSpend?.bind(inner);
    if (spend !== undefined) this.getSpend = (opts) => this.limited(opts, () => spend(opts));
  }

  listServers(opts?: CallOptions): Promise<Server[]> {
    return this.limited(opts, () => this.inner.listServers(opts));
  }

  getServer(id: string, opts?: CallOptions): Promise<Server | undefined> {
    return this.limited(opts, () => this.inner.getServer(id, opts));
  }

  launchServer(req: LaunchRequest, opts?: CallOptions): Promise<Server> {
    return this.limited(opts, () => this.inner.launchServer(req, opts));
  }

  terminateServer(id: string, opts?: CallOptions): Promise<void> {
    return this.limited(opts, () => this.inner.terminateServer(id, opts));
  }

  rebootServer(id: string, opts?: CallOptions): Promise<void> {
    return this.limited(opts, () => this.inner.rebootServer(id, opts));
  }

  listFirewalls(opts?: CallOptions): Promise<Firewall[]> {
    return this.limited(opts, () => this.inner.listFirewalls(opts));
  }

  listVolumes(opts?: CallOptions): Promise<Volume[]> {
    return this.limited(opts, () => this.inner.listVolumes(opts));
  }

  private async limited<T>(opts: CallOptions | undefined, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      await this.limiter.acquire(this.account, opts?.signal);
      try {
        return await call();
      } catch (err) {
        if (!isThrottled(err)) throw err;
        await this.limiter.penalize(this.account);
        if (attempt >= this.throttleRetries) throw err;
      }
    }
  }
}
