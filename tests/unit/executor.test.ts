import type { ClaimedAction } from '@cmq/actions';
import type { RedisClient } from '@cmq/common';
import { Executor } from '@cmq/subscriber';
import { captureLogs } from '../helpers/log-capture';

const RETRY = { initialMs: 1_000, maxMs: 60_000, maxThrottled: 3, maxOutages: 3, outageMaxMs: 60_000 };

/** An Executor in mode passive whose log lines the test reads; `noop` needs no Redis unless counting. */
function setUp(timeoutMs = 30_000): { executor: Executor; lines: ReturnType<typeof captureLogs>['lines'] } {
  const { logger, lines } = captureLogs('debug');
  // No action here counts its runs: nothing stands behind the Redis seam.
  const redis = undefined as unknown as RedisClient;
  return { executor: new Executor({ timeoutMs, retry: RETRY, logger, redis, mode: 'passive' }), lines };
}

function claimed(over: Partial<ClaimedAction> = {}): ClaimedAction {
  return {
    id: '9',
    tenant_id: 't1',
    type: 'noop',
    args: {},
    attempts: 1,
    max_attempts: 5,
    throttles: 0,
    outages: 0,
    expires_at: null,
    from_state: 'queued',
    tenant_enabled: true,
    ...over,
  };
}

const live = (): AbortSignal => new AbortController().signal;
const notHandingBack = (): boolean => false;
const messages = (lines: Array<{ msg: string }>): string[] => lines.map((l) => l.msg);

describe('Executor', () => {
  it('a rejected action is logged at warn with the reason; it never runs', async () => {
    const { executor, lines } = setUp();
    const outcome = await executor.run(
      claimed({ type: 'server.launch', args: { account: '1' } }),
      live(),
      notHandingBack,
    );
    const reason = 'provisioning.cfg mode=passive refuses server.launch (provisioning actions need mode=dynamic)';
    expect(outcome).toEqual({ id: '9', attempt: 1, state: 'rejected', error: reason });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'action rejected',
        tenant: 't1',
        action: '9',
        type: 'server.launch',
        reason,
      }),
    ]);
  });

  it('an expired action ends expired without a log line', async () => {
    const { executor, lines } = setUp();
    const at = new Date(Date.now() - 1_000);
    expect(await executor.run(claimed({ expires_at: at }), live(), notHandingBack)).toEqual({
      id: '9',
      attempt: 1,
      state: 'expired',
      error: `expired at ${at.toISOString()} before it could run`,
    });
    expect(lines).toEqual([]);
  });

  it("runs the handler: success with its result, logged at debug with the run's bindings", async () => {
    const { executor, lines } = setUp();
    expect(await executor.run(claimed({ attempts: 2 }), live(), notHandingBack)).toEqual({
      id: '9',
      attempt: 2,
      state: 'succeeded',
      result: { attempt: 2 },
    });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'action succeeded',
        tenant: 't1',
        action: '9',
        type: 'noop',
        attempt: 2,
      }),
    ]);
  });

  it("a handler's own failure ends failed, logged at warn", async () => {
    const { executor, lines } = setUp();
    expect(await executor.run(claimed({ args: { fail: 'outcome' } }), live(), notHandingBack)).toEqual({
      id: '9',
      attempt: 1,
      state: 'failed',
      result: null,
      error: 'noop reporting failure on purpose',
    });
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: 'action failed', error: 'noop reporting failure on purpose' }),
    ]);
  });

  it('a transient throw is retried later; a permanent one ends dead; both logged as a failed attempt', async () => {
    const { executor, lines } = setUp();
    const retried = await executor.run(claimed({ args: { fail_times: 1 } }), live(), notHandingBack);
    expect(retried).toMatchObject({ id: '9', attempt: 1, state: 'retrying' });
    expect(retried.error).toMatch(/^noop failing on purpose \(attempt 1 of the first 1\) \(retry in \d+ ms\)$/);
    expect(retried.notBefore?.getTime()).toBeGreaterThan(Date.now());
    const dead = await executor.run(claimed({ args: { fail: 'permanent' } }), live(), notHandingBack);
    expect(dead).toEqual({ id: '9', attempt: 1, state: 'dead', error: 'noop failing permanently on purpose' });
    expect(lines.map((l) => [l.msg, l.transient])).toEqual([
      ['action attempt failed', true],
      ['action attempt failed', false],
    ]);
  });

  it('a run past action.timeout is interrupted and retried, the setting named', async () => {
    const { executor } = setUp(30);
    const outcome = await executor.run(claimed({ args: { sleep_ms: 60_000 } }), live(), notHandingBack);
    expect(outcome).toMatchObject({ state: 'retrying' });
    expect(outcome.error).toMatch(/^timed out after 30 ms \(subscriber action\.timeout\) \(retry in \d+ ms\)$/);
  });

  it('a run the stopping subscriber hands back goes back to the queue, not logged as a failure', async () => {
    const { executor, lines } = setUp();
    const stop = new AbortController();
    const running = executor.run(claimed({ args: { sleep_ms: 60_000 } }), stop.signal, () => true);
    setImmediate(() => stop.abort());
    expect(await running).toEqual({
      id: '9',
      attempt: 1,
      state: 'queued',
      error: 'handed back: the subscriber stopped before it finished',
    });
    expect(messages(lines)).toEqual([]);
  });
});
