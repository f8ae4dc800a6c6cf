import {
  type ClaimedAction,
  type Mode,
  type Outcome,
  checkArgs,
  expiryError,
  modeRefusal,
  tenantDisabled,
} from '@cmq/actions';
import { CmqError, type Logger, type RedisClient, backoffDelay, errorText } from '@cmq/common';
import { isThrottled } from '@cmq/drivers';
import { type CloudServices, type HandlerContext, type SshServices, handlerFor } from './handlers';

export interface ExecutorOptions {
  timeoutMs: number;
  /** Backoff, and how many throttled runs of an action are not counted as attempts. */
  retry: { initialMs: number; maxMs: number; maxThrottled: number };
  logger: Logger;
  redis: RedisClient;
  ssh?: SshServices;
  cloud?: CloudServices;
  /** provisioning.cfg `mode`: a claimed action it refuses ends rejected (it may have changed since intake). */
  mode: Mode;
}

/**
 * Turns a claimed action into an outcome: checks it may run (not expired, tenant enabled, allowed
 * by the mode, attempts left, known type, valid arguments), runs its handler under a timeout with an AbortSignal, and maps what
 * happened to a state: succeeded, failed, retrying (transient, with capped jittered backoff
 * stored in the row; a provider's throttling retries without counting an attempt), dead
 * (permanent, or out of attempts), or queued when `handBack` aborted it.
 */
export class Executor {
  constructor(private readonly opts: ExecutorOptions) {}

  /** Why the action may not run now (its tenant is disabled, or the mode refuses its type). */
  private refusal(action: ClaimedAction): string | undefined {
    if (!action.tenant_enabled) return tenantDisabled(action.tenant_id);
    return modeRefusal(this.opts.mode, action.type);
  }

  async run(action: ClaimedAction, stop: AbortSignal, handingBack: () => boolean): Promise<Outcome> {
    const base = { id: action.id, attempt: action.attempts };
    const expired = expiryError(action.expires_at);
    if (expired !== undefined) return { ...base, state: 'expired', error: expired };
    const refusal = this.refusal(action);
    if (refusal !== undefined) {
      this.opts.logger.warn(
        { tenant: action.tenant_id, action: action.id, type: action.type, reason: refusal },
        'action rejected',
      );
      return { ...base, state: 'rejected', error: refusal };
    }
    if (action.attempts > action.max_attempts) {
      return {
        ...base,
        state: 'dead',
        error: `attempt ${action.attempts} is over max_attempts ${action.max_attempts}: earlier attempts never finished (their worker died)`,
      };
    }
    const checked = checkArgs(action.type, action.args);
    if (!checked.ok) return { ...base, state: 'dead', error: checked.error };
    const handler = handlerFor(checked.type);

    // The child logger, the AbortController, its timer and the stop listener cost more than a
    // noop handler itself (pino redacts a child's bindings): each is made only when the handler
    // reads `ctx.logger` / `ctx.signal`, or when an outcome is worth a log line. A handler that
    // never reads its signal could not be interrupted by it anyway.
    let childLogger: Logger | undefined;
    const logger = (): Logger =>
      (childLogger ??= this.opts.logger.child({
        tenant: action.tenant_id,
        action: action.id,
        type: action.type,
        attempt: action.attempts,
      }));
    let run: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    const onStop = (): void => run?.abort();
    const signal = (): AbortSignal => {
      if (run === undefined) {
        run = new AbortController();
        const remaining = this.opts.timeoutMs - (Date.now() - started);
        timer = setTimeout(() => run?.abort(), Math.max(0, remaining));
        if (stop.aborted) run.abort();
        else stop.addEventListener('abort', onStop, { once: true });
      }
      return run.signal;
    };
    const started = Date.now();
    const { redis } = this.opts;
    const ctx: HandlerContext = {
      id: action.id,
      tenant: action.tenant_id,
      type: checked.type,
      args: checked.args,
      attempt: action.attempts,
      get signal() {
        return signal();
      },
      get logger() {
        return logger();
      },
      redis,
      ssh: this.opts.ssh,
      cloud: this.opts.cloud,
    };
    try {
      const result = await handler(ctx);
      // Success is the common case: debug, so that a busy tenant's log shows what went wrong.
      if (result.status === 'succeeded') {
        if (this.opts.logger.isLevelEnabled('debug')) logger().debug({ ms: Date.now() - started }, 'action succeeded');
      } else logger().warn({ ms: Date.now() - started, error: result.error }, 'action failed');
      return result.status === 'succeeded'
        ? { ...base, state: 'succeeded', result: result.result ?? null }
        : { ...base, state: 'failed', result: result.result ?? null, error: result.error };
    } catch (err) {
      if (handingBack())
        return { ...base, state: 'queued', error: 'handed back: the subscriber stopped before it finished' };
      const timedOut =
        run !== undefined
          ? run.signal.aborted && !stop.aborted
          : Date.now() - started >= this.opts.timeoutMs && !stop.aborted;
      const text = timedOut ? `timed out after ${this.opts.timeoutMs} ms (subscriber action.timeout)` : errorText(err);
      // Only a CmqError can say "permanent"; anything unexpected is worth another attempt.
      const transient = timedOut || !(err instanceof CmqError) || err.transient;
      logger().warn({ ms: Date.now() - started, err: text, transient }, 'action attempt failed');
      if (!transient) return { ...base, state: 'dead', error: text };
      const throttled = !timedOut && isThrottled(err);
      // Backoff grows with throttled runs too: their attempts were given back.
      const delay = backoffDelay(action.attempts + action.throttles, this.opts.retry.initialMs, this.opts.retry.maxMs);
      if (throttled && action.throttles < this.opts.retry.maxThrottled) {
        // The provider's rate limit outlasted the driver's own retries: a retry that does not
        // count as an attempt (the account's bucket was already slowed down), a limited number
        // of times (retry.max_throttled).
        return {
          ...base,
          state: 'retrying',
          refundAttempt: true,
          error: `${text} (throttled: attempt ${action.attempts} not counted; retry in ${delay} ms)`,
          notBefore: new Date(Date.now() + delay),
        };
      }
      const counted = throttled
        ? `${text} (throttled, counted as an attempt: ${action.throttles} throttled runs already went uncounted, retry.max_throttled=${this.opts.retry.maxThrottled})`
        : text;
      if (action.attempts >= action.max_attempts)
        return { ...base, state: 'dead', error: `gave up after ${action.attempts} attempts: ${counted}` };
      return {
        ...base,
        state: 'retrying',
        error: `${counted} (retry in ${delay} ms)`,
        notBefore: new Date(Date.now() + delay),
      };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      if (run !== undefined) stop.removeEventListener('abort', onStop);
    }
  }
}
