import type { ClaimedAction, Outcome } from '@cmq/actions';
import { CmqError, backoffDelay, errorText, isDependencyUnavailable } from '@cmq/common';
import { isThrottled } from '@cmq/drivers';
import type { HandlerResult } from './handlers';

/**
 * subscriber.properties `retry.*`: backoff, and how many throttled runs, and how many runs held
 * back by an outage of a dependency, of an action are not counted as attempts.
 */
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  maxThrottled: number;
  /** `retry.max_outages`. */
  maxOutages: number;
  /** `retry.outage_max_delay`: the cap of the backoff between runs held back by an outage. */
  outageMaxMs: number;
}

/** What the decision reads of the action that ran. */
export type DecidedAction = Pick<ClaimedAction, 'id' | 'attempts' | 'max_attempts' | 'throttles' | 'outages'>;

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
  /**
   * What the `action attempt failed` log line says (`action held back by an outage` with
   * `heldBack`); absent for a hand-back.
   */
  log?: { err: string; transient: boolean; heldBack?: true };
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
 * `retrying` with capped jittered backoff, or `dead` once attempts reach `max_attempts`. Two
 * kinds of transient failure are no fault of the action and retry without counting the attempt
 * (`refundAttempt`), each a limited number of times, after which they count like any other: a
 * provider's throttling (`retry.max_throttled`), and a dependency of cmq itself being
 * unavailable (CMQ_ERR_DEPENDENCY_UNAVAILABLE, `retry.max_outages`), whose backoff grows with
 * each such run up to `retry.outage_max_delay`, the length of a real outage.
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
  const now = opts.now ?? Date.now();
  const uncounted = timedOut ? undefined : refund(action, err, text, opts);
  if (uncounted !== undefined)
    return {
      outcome: {
        ...base,
        state: 'retrying',
        refundAttempt: true,
        ...(uncounted.outage ? { outage: true } : {}),
        error: uncounted.error,
        notBefore: new Date(now + uncounted.delay),
      },
      log: uncounted.outage ? { ...log, heldBack: true } : log,
    };
  const { retry } = opts;
  // Backoff grows with throttled runs too (their attempts were given back, and the provider may
  // still be busy); runs held back by an outage had their own backoff and do not lengthen this one.
  const delay = backoffDelay(action.attempts + action.throttles, retry.initialMs, retry.maxMs, opts.random);
  const counted = timedOut ? text : countedText(action, err, text, retry);
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

/** A run given back without counting its attempt: the event's reason and the wait before the next run. */
interface Refund {
  outage: boolean;
  error: string;
  delay: number;
}

/** The refund a transient error earns, if any (see failureOutcome). */
function refund(action: DecidedAction, err: unknown, text: string, opts: DecisionOptions): Refund | undefined {
  const { retry } = opts;
  if (isDependencyUnavailable(err) && action.outages < retry.maxOutages) {
    // Not the action's failure: wait for the dependency, a little longer after each such run.
    const delay = backoffDelay(action.outages + 1, retry.initialMs, retry.outageMaxMs, opts.random);
    const error = `held back by an outage, not a failed attempt: ${text} (attempt ${action.attempts} not counted; retry in ${delay} ms)`;
    return { outage: true, error, delay };
  }
  if (isThrottled(err) && action.throttles < retry.maxThrottled) {
    // The provider's rate limit outlasted the driver's own retries: a retry that does not count
    // as an attempt (the account's bucket was already slowed down), a limited number of times.
    const delay = backoffDelay(action.attempts + action.throttles, retry.initialMs, retry.maxMs, opts.random);
    const error = `${text} (throttled: attempt ${action.attempts} not counted; retry in ${delay} ms)`;
    return { outage: false, error, delay };
  }
  return undefined;
}

/** The error of a transient run that counts, saying why a throttled or held-back one counts now. */
function countedText(action: DecidedAction, err: unknown, text: string, retry: RetryPolicy): string {
  if (isDependencyUnavailable(err))
    return `${text} (dependency unavailable, counted as an attempt: ${action.outages} runs held back by an outage already went uncounted, retry.max_outages=${retry.maxOutages})`;
  if (isThrottled(err))
    return `${text} (throttled, counted as an attempt: ${action.throttles} throttled runs already went uncounted, retry.max_throttled=${retry.maxThrottled})`;
  return text;
}
