import { CmqError, DependencyUnavailableError } from '@cmq/common';
import { DriverError } from '@cmq/drivers';
import { type DecidedAction, type FailedRun, failureOutcome, resultOutcome } from '@cmq/subscriber';

const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const RETRY = { initialMs: 1_000, maxMs: 60_000, maxThrottled: 3, maxOutages: 4, outageMaxMs: 300_000 };
// random 0.5: no jitter, so the backoff is initialMs × 2^(n-1) exactly.
const OPTS = { timeoutMs: 30_000, retry: RETRY, now: NOW, random: () => 0.5 };

function action(over: Partial<DecidedAction> = {}): DecidedAction {
  return { id: '42', attempts: 1, max_attempts: 5, throttles: 0, outages: 0, ...over };
}

function failed(err: unknown, over: Partial<FailedRun> = {}): FailedRun {
  return { err, timedOut: false, handedBack: false, ...over };
}

const throttled = (): DriverError =>
  new DriverError({
    kind: 'throttled',
    provider: 'ec2',
    operation: 'RunInstances',
    providerCode: 'RequestLimitExceeded',
    providerMessage: 'Request limit exceeded.',
  });

describe('resultOutcome', () => {
  it("a handler's success keeps its result (null when it has none)", () => {
    expect(resultOutcome(action(), { status: 'succeeded', result: { n: 1 } })).toEqual({
      id: '42',
      attempt: 1,
      state: 'succeeded',
      result: { n: 1 },
    });
    expect(resultOutcome(action({ attempts: 2 }), { status: 'succeeded' })).toEqual({
      id: '42',
      attempt: 2,
      state: 'succeeded',
      result: null,
    });
  });

  it("a handler's own failure is final, with its error and result", () => {
    expect(resultOutcome(action(), { status: 'failed', error: 'exit 3', result: { code: 3 } })).toEqual({
      id: '42',
      attempt: 1,
      state: 'failed',
      result: { code: 3 },
      error: 'exit 3',
    });
  });
});

describe('failureOutcome', () => {
  it('handed back (the subscriber stops): queued again, not logged as a failure, whatever was thrown', () => {
    for (const run of [
      failed(new Error('aborted'), { handedBack: true, timedOut: true }),
      failed('x', { handedBack: true }),
    ])
      expect(failureOutcome(action({ attempts: 5 }), run, OPTS)).toEqual({
        outcome: {
          id: '42',
          attempt: 5,
          state: 'queued',
          error: 'handed back: the subscriber stopped before it finished',
        },
      });
  });

  it('a permanent CmqError ends dead at once with its message, attempts left or not', () => {
    const err = new CmqError('CMQ_ERR_SSH_HOSTKEY_MISMATCH', 'host key mismatch');
    expect(failureOutcome(action(), failed(err), OPTS)).toEqual({
      outcome: { id: '42', attempt: 1, state: 'dead', error: 'host key mismatch' },
      log: { err: 'host key mismatch', transient: false },
    });
  });

  it('a transient CmqError, or anything that is no CmqError, is retried after the backoff', () => {
    for (const err of [
      new CmqError('CMQ_ERR_BROKER_UNAVAILABLE', 'broker away', { transient: true }),
      new Error('socket hang up'),
      'a string',
    ])
      expect(failureOutcome(action(), failed(err), OPTS)).toMatchObject({
        outcome: { state: 'retrying', notBefore: new Date(NOW + 1_000) },
        log: { transient: true },
      });
    expect(failureOutcome(action(), failed(new Error('socket hang up')), OPTS).outcome).toEqual({
      id: '42',
      attempt: 1,
      state: 'retrying',
      error: 'socket hang up (retry in 1000 ms)',
      notBefore: new Date(NOW + 1_000),
    });
  });

  it('the backoff doubles with each attempt, capped at retry.max_delay', () => {
    const delays = [1, 2, 3, 4].map(
      (attempts) => failureOutcome(action({ attempts, max_attempts: 10 }), failed(new Error('x')), OPTS).outcome.error,
    );
    expect(delays).toEqual([
      'x (retry in 1000 ms)',
      'x (retry in 2000 ms)',
      'x (retry in 4000 ms)',
      'x (retry in 8000 ms)',
    ]);
    const late = failureOutcome(action({ attempts: 9, max_attempts: 10 }), failed(new Error('x')), OPTS).outcome;
    expect(late).toMatchObject({ error: 'x (retry in 60000 ms)', notBefore: new Date(NOW + 60_000) });
  });

  it('a timeout is transient and says which setting it was', () => {
    expect(failureOutcome(action(), failed(new Error('aborted'), { timedOut: true }), OPTS)).toEqual({
      outcome: {
        id: '42',
        attempt: 1,
        state: 'retrying',
        error: 'timed out after 30000 ms (subscriber action.timeout) (retry in 1000 ms)',
        notBefore: new Date(NOW + 1_000),
      },
      log: { err: 'timed out after 30000 ms (subscriber action.timeout)', transient: true },
    });
    // Even when what was thrown says permanent: the clock decided.
    const permanent = new CmqError('CMQ_ERR_NOOP_PERMANENT', 'cancelled');
    expect(failureOutcome(action(), failed(permanent, { timedOut: true }), OPTS).outcome.state).toBe('retrying');
  });

  it('out of attempts: a transient failure ends dead, saying how many attempts were made', () => {
    expect(failureOutcome(action({ attempts: 5, max_attempts: 5 }), failed(new Error('boom')), OPTS)).toEqual({
      outcome: { id: '42', attempt: 5, state: 'dead', error: 'gave up after 5 attempts: boom' },
      log: { err: 'boom', transient: true },
    });
    expect(
      failureOutcome(action({ attempts: 3, max_attempts: 3 }), failed(undefined, { timedOut: true }), OPTS).outcome,
    ).toEqual({
      id: '42',
      attempt: 3,
      state: 'dead',
      error: 'gave up after 3 attempts: timed out after 30000 ms (subscriber action.timeout)',
    });
  });

  it("a provider's throttling retries without counting the attempt, and its backoff counts the throttled runs", () => {
    const err = throttled();
    const text = 'ec2 RunInstances: RequestLimitExceeded: Request limit exceeded.';
    expect(failureOutcome(action({ attempts: 2, throttles: 1 }), failed(err), OPTS)).toEqual({
      outcome: {
        id: '42',
        attempt: 2,
        state: 'retrying',
        refundAttempt: true,
        // attempts 2 + throttles 1: the third step of the backoff.
        error: `${text} (throttled: attempt 2 not counted; retry in 4000 ms)`,
        notBefore: new Date(NOW + 4_000),
      },
      log: { err: text, transient: true },
    });
    // Even on the last attempt: the run does not count.
    expect(failureOutcome(action({ attempts: 5, max_attempts: 5 }), failed(err), OPTS).outcome).toMatchObject({
      state: 'retrying',
      refundAttempt: true,
    });
  });

  it('after retry.max_throttled uncounted runs, throttling counts as an attempt, and can end dead', () => {
    const err = throttled();
    const text = 'ec2 RunInstances: RequestLimitExceeded: Request limit exceeded.';
    const counted = `${text} (throttled, counted as an attempt: 3 throttled runs already went uncounted, retry.max_throttled=3)`;
    const again = failureOutcome(action({ attempts: 1, throttles: 3 }), failed(err), OPTS).outcome;
    expect(again).toEqual({
      id: '42',
      attempt: 1,
      state: 'retrying',
      error: `${counted} (retry in 8000 ms)`,
      notBefore: new Date(NOW + 8_000),
    });
    expect(again.refundAttempt).toBeUndefined();
    expect(failureOutcome(action({ attempts: 5, max_attempts: 5, throttles: 3 }), failed(err), OPTS).outcome).toEqual({
      id: '42',
      attempt: 5,
      state: 'dead',
      error: `gave up after 5 attempts: ${counted}`,
    });
  });

  describe('a dependency of cmq unavailable (CMQ_ERR_DEPENDENCY_UNAVAILABLE)', () => {
    const redisAway = (): DependencyUnavailableError =>
      new DependencyUnavailableError('redis', "Redis is unavailable (noop run counter): Stream isn't writeable");
    const text = "Redis is unavailable (noop run counter): Stream isn't writeable";

    it('is held back without counting the attempt, even the last one, and its event says so', () => {
      expect(failureOutcome(action({ attempts: 5, max_attempts: 5 }), failed(redisAway()), OPTS)).toEqual({
        outcome: {
          id: '42',
          attempt: 5,
          state: 'retrying',
          refundAttempt: true,
          outage: true,
          error: `held back by an outage, not a failed attempt: ${text} (attempt 5 not counted; retry in 1000 ms)`,
          notBefore: new Date(NOW + 1_000),
        },
        log: { err: text, transient: true, heldBack: true },
      });
    });

    it('waits longer after each held-back run, up to retry.outage_max_delay, whatever the attempts', () => {
      const waits = [0, 1, 2, 3].map((outages) => {
        const o = failureOutcome(action({ attempts: 4, outages }), failed(redisAway()), {
          ...OPTS,
          retry: { ...RETRY, maxOutages: 100 },
        }).outcome;
        return (o.notBefore?.getTime() ?? 0) - NOW;
      });
      expect(waits).toEqual([1_000, 2_000, 4_000, 8_000]);
      const capped = failureOutcome(action({ outages: 40 }), failed(redisAway()), {
        ...OPTS,
        retry: { ...RETRY, maxOutages: 100 },
      }).outcome;
      expect(capped.notBefore).toEqual(new Date(NOW + 300_000));
    });

    it('is known by its code, whatever class raised it, and whatever its message says', () => {
      const coded = new CmqError('CMQ_ERR_DEPENDENCY_UNAVAILABLE', 'PostgreSQL at db:5432/cmq is unavailable', {
        transient: true,
      });
      expect(failureOutcome(action(), failed(coded), OPTS).outcome).toMatchObject({
        refundAttempt: true,
        outage: true,
      });
      // The same words in any other error are an ordinary failure.
      const lookalike = new Error("Redis is unavailable (noop run counter): Stream isn't writeable");
      expect(failureOutcome(action(), failed(lookalike), OPTS).outcome.refundAttempt).toBeUndefined();
    });

    it('after retry.max_outages held-back runs it counts as an attempt, and can end dead saying why', () => {
      const counted = `${text} (dependency unavailable, counted as an attempt: 4 runs held back by an outage already went uncounted, retry.max_outages=4)`;
      const again = failureOutcome(action({ attempts: 1, outages: 4 }), failed(redisAway()), OPTS).outcome;
      expect(again).toEqual({
        id: '42',
        attempt: 1,
        state: 'retrying',
        error: `${counted} (retry in 1000 ms)`,
        notBefore: new Date(NOW + 1_000),
      });
      expect(
        failureOutcome(action({ attempts: 5, max_attempts: 5, outages: 4 }), failed(redisAway()), OPTS).outcome,
      ).toEqual({ id: '42', attempt: 5, state: 'dead', error: `gave up after 5 attempts: ${counted}` });
    });

    it('a timeout is a timeout, and throttling keeps its own count', () => {
      const timedOut = failureOutcome(action(), failed(redisAway(), { timedOut: true }), OPTS).outcome;
      expect(timedOut.refundAttempt).toBeUndefined();
      const throttledRun = failureOutcome(action({ outages: 4 }), failed(throttled()), OPTS).outcome;
      expect(throttledRun).toMatchObject({ state: 'retrying', refundAttempt: true });
      expect(throttledRun.outage).toBeUndefined();
    });
  });

  it('a timeout is never taken for throttling, even when the error thrown was a throttle', () => {
    const outcome = failureOutcome(action(), failed(throttled(), { timedOut: true }), OPTS).outcome;
    expect(outcome.refundAttempt).toBeUndefined();
    expect(outcome.error).toBe('timed out after 30000 ms (subscriber action.timeout) (retry in 1000 ms)');
  });

  it('a permanent driver error ends dead at once', () => {
    const err = new DriverError({
      kind: 'permanent',
      provider: 'ec2',
      operation: 'RunInstances',
      providerCode: 'InvalidAMIID.NotFound',
      providerMessage: 'no such image',
    });
    expect(failureOutcome(action(), failed(err), OPTS).outcome).toEqual({
      id: '42',
      attempt: 1,
      state: 'dead',
      error: 'ec2 RunInstances: InvalidAMIID.NotFound: no such image',
    });
  });

  it('the backoff is jittered ±20 % around its step', () => {
    const low = failureOutcome(action(), failed(new Error('x')), { ...OPTS, random: () => 0 }).outcome;
    const high = failureOutcome(action(), failed(new Error('x')), { ...OPTS, random: () => 0.999 }).outcome;
    expect(low.notBefore).toEqual(new Date(NOW + 800));
    expect(high.notBefore).toEqual(new Date(NOW + 1_200));
  });
});
