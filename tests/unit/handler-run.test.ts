import type { RedisClient } from '@cmq/common';
import { type HandlerContext, runHandler } from '@cmq/subscriber';
import { captureLogs } from '../helpers/log-capture';

const ACTION = { id: '7', tenant_id: 't1', attempts: 2 };
const NOOP = { type: 'noop' as const, args: {} };

function options(
  timeoutMs: number,
): Parameters<typeof runHandler>[4] & { lines: ReturnType<typeof captureLogs>['lines'] } {
  const { logger, lines } = captureLogs();
  // No handler here touches Redis: nothing stands behind the seam.
  return { timeoutMs, logger, redis: undefined as unknown as RedisClient, lines };
}

/** A handler that waits until its signal aborts, then throws as handlers do. */
const waitsForSignal = (ctx: HandlerContext): Promise<never> =>
  new Promise((_, reject) => {
    if (ctx.signal.aborted) reject(new Error('aborted'));
    ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
  });

describe('runHandler', () => {
  it("passes the parsed arguments and the action's identity; reports the handler's verdict", async () => {
    let seen: Partial<HandlerContext> = {};
    const report = await runHandler(
      (ctx) => {
        seen = { id: ctx.id, tenant: ctx.tenant, type: ctx.type, args: ctx.args, attempt: ctx.attempt };
        return Promise.resolve({ status: 'succeeded', result: 1 });
      },
      ACTION,
      { type: 'noop', args: { sleep_ms: 3 } },
      new AbortController().signal,
      options(1_000),
    );
    expect(seen).toEqual({ id: '7', tenant: 't1', type: 'noop', args: { sleep_ms: 3 }, attempt: 2 });
    expect(report).toMatchObject({ ok: true, result: { status: 'succeeded', result: 1 } });
  });

  it('the action timeout aborts the signal: a timeout', async () => {
    const report = await runHandler(waitsForSignal, ACTION, NOOP, new AbortController().signal, options(50));
    expect(report).toMatchObject({ ok: false, timedOut: true });
    expect(report.ms).toBeGreaterThanOrEqual(45);
  });

  it('the process stopping aborts the signal too, and that is no timeout', async () => {
    const stop = new AbortController();
    const running = runHandler(waitsForSignal, ACTION, NOOP, stop.signal, options(60_000));
    setImmediate(() => stop.abort());
    expect(await running).toMatchObject({ ok: false, timedOut: false, err: new Error('aborted') });
  });

  it('a signal read after the process began stopping is aborted at once', async () => {
    const stop = new AbortController();
    stop.abort();
    const report = await runHandler(waitsForSignal, ACTION, NOOP, stop.signal, options(60_000));
    expect(report).toMatchObject({ ok: false, timedOut: false });
  });

  it('a handler that never reads its signal and throws after the timeout is judged timed out by the clock', async () => {
    const slow = async (): Promise<never> => {
      await new Promise((r) => setTimeout(r, 60));
      throw new Error('late');
    };
    expect(await runHandler(slow, ACTION, NOOP, new AbortController().signal, options(20))).toMatchObject({
      ok: false,
      timedOut: true,
    });
    const quick = (): Promise<never> => Promise.reject(new Error('early'));
    expect(await runHandler(quick, ACTION, NOOP, new AbortController().signal, options(60_000))).toMatchObject({
      ok: false,
      timedOut: false,
    });
  });

  it('leaves no timer or stop listener behind', async () => {
    const stop = new AbortController();
    let listeners = 0;
    const add = stop.signal.addEventListener.bind(stop.signal);
    const remove = stop.signal.removeEventListener.bind(stop.signal);
    stop.signal.addEventListener = (...a: Parameters<typeof add>) => {
      listeners += 1;
      add(...a);
    };
    stop.signal.removeEventListener = (...a: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...a);
    };
    jest.useFakeTimers();
    try {
      const report = runHandler(
        (ctx) => Promise.resolve(ctx.signal.aborted ? { status: 'failed', error: 'x' } : { status: 'succeeded' }),
        ACTION,
        NOOP,
        stop.signal,
        options(60_000),
      );
      expect(await report).toMatchObject({ ok: true, result: { status: 'succeeded' } });
      expect(jest.getTimerCount()).toBe(0);
      expect(listeners).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it("makes the run's child logger only when asked, with the action's bindings", async () => {
    const opts = options(1_000);
    const report = await runHandler(
      () => Promise.resolve({ status: 'succeeded' }),
      ACTION,
      NOOP,
      new AbortController().signal,
      opts,
    );
    report.logger().warn('hello');
    expect(opts.lines).toEqual([
      expect.objectContaining({ tenant: 't1', action: '7', type: 'noop', attempt: 2, msg: 'hello' }),
    ]);
  });
});
