import type { ClaimedAction, Outcome } from '@cmq/actions';
import { CmqError, backoffDelay, errorText } from '@cmq/common';
import { isThrottled } from '@cmq/drivers';
import type { HandlerResult } from './handlers';

/** subscriber.properties `retry.*`: backoff, and how many throttled runs of an action are not counted as attempts. */
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  maxThrottled: number;
}

/** What the decision reads of the action that ran. */
export type DecidedAction = Pick<ClaimedAction, 'id' | 'attempts' | 'max_attempts' | 'throttles'>;

/** A run whose handler threw. */
export interface FailedRun {
  err: unknown;
  /** The action timeout fired (and the process was not stopping). */
  timedOut: boolean;
  /** The subscriber hands its unfinished work back (drain deadline): not a failure of the action. */
  handedBack: boolean;
}

export interface FailureDecision {
  outcome: Outcome;
  /** What the `action attempt failed` log line says; absent for a hand-back. */
  log?: { err: string; transient: boolean };
}

export interface DecisionOptions {
  /** subscriber.properties `action.timeout`, named in a timeout's error. */
  timeoutMs: number;
  retry: RetryPolicy;
  /** The clock and the backoff's jitter; tests pass their own. */
  now?: number;
  random?: () => number;
}

/** The outcome of a run whose handler returned its own verdict. */
export function resultOutcome(action: DecidedAction, result: HandlerResult): Outcome {
  const base = { id: action.id, attempt: action.attempts };
  return result.status === 'succeeded'
    ? { ...base, state: 'succeeded', result: result.result ?? null }
    : { ...base, state: 'failed', result: result.result ?? null, error: result.error };
}

/**
 * The outcome of a run whose handler threw. Handed back: `queued`. Permanent (a CmqError that is
 * not transient): `dead`. Transient (a timeout, a transient CmqError, or anything unexpected):
 * `retrying` with capped jittered backoff, or `dead` once attempts reach `max_attempts`. A
 * provider's throttling retries without counting the attempt (`refundAttempt`), at most
 * `retry.maxThrottled` times; after that it counts like any transient failure.
 */
export function failureOutcome(action: DecidedAction, run: FailedRun, opts: DecisionOptions): FailureDecision {
  const base = { id: action.id, attempt: action.attempts };
  if (run.handedBack)
    return { outcome: { ...base, state: 'queued', error: 'handed back: the subscriber stopped before it finished' } };
  const { err, timedOut } = run;
  const text = timedOut ? `timed out after ${opts.timeoutMs} ms (subscriber action.timeout)` : errorText(err);
  // Only a CmqError can say "permanent"; anything unexpected is worth another attempt.
  const transient = timedOut || !(err instanceof CmqError) || err.transient;
  const log = { err: text, transient };
  if (!transient) return { outcome: { ...base, state: 'dead', error: text }, log };
  const throttled = !timedOut && isThrottled(err);
  const { retry } = opts;
  const now = opts.now ?? Date.now();
  // Backoff grows with throttled runs too: their attempts were given back.
  const delay = backoffDelay(action.attempts + action.throttles, retry.initialMs, retry.maxMs, opts.random);
  if (throttled && action.throttles < retry.maxThrottled) {
    // The provider's rate limit outlasted the driver's own retries: a retry that does not count
    // as an attempt (the account's bucket was already slowed down), a limited number of times.
    const error = `${text} (throttled: attempt ${action.attempts} not counted; retry in ${delay} ms)`;
    return {
      outcome: { ...base, state: 'retrying', refundAttempt: true, error, notBefore: new Date(now + delay) },
      log,
    };
  }
  const counted = throttled
    ? `${text} (throttled, counted as an attempt: ${action.throttles} throttled runs already went uncounted, retry.max_throttled=${retry.maxThrottled})`
    : text;
  if (action.attempts >= action.max_attempts)
    return { outcome: { ...base, state: 'dead', error: `gave up after ${action.attempts} attempts: ${counted}` }, log };
  return {
    outcome: {
      ...base,
      state: 'retrying',
      error: `${counted} (retry in ${delay} ms)`,
      notBefore: new Date(now + delay),
    },
    log,
  };
}
