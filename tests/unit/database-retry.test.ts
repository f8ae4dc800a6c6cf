import { IntakeError } from '@cmq/actions';
import { retryDatabaseStep } from '@cmq/subscriber';
import type { Logger } from '@cmq/common';
import pino from 'pino';

const logger = pino({ level: 'silent' });

/** A step that fails `failures` times with `err`, then resolves 'done'; counts its calls. */
function flaky(
  failures: number,
  err: Error = new Error('connection terminated'),
): {
  step: () => Promise<string>;
  calls: () => number;
} {
  let calls = 0;
  return {
    step: () => {
      calls += 1;
      return calls <= failures ? Promise.reject(err) : Promise.resolve('done');
    },
    calls: () => calls,
  };
}

describe('retryDatabaseStep', () => {
  it('retries a failing step until it works', async () => {
    const f = flaky(2);
    await expect(retryDatabaseStep(f.step, new AbortController().signal, logger)).resolves.toBe('done');
    expect(f.calls()).toBe(3);
  });

  it('throws an IntakeError, or an error `final` accepts, at once', async () => {
    const intake = flaky(1, new IntakeError('bad request'));
    await expect(retryDatabaseStep(intake.step, new AbortController().signal, logger)).rejects.toBeInstanceOf(
      IntakeError,
    );
    expect(intake.calls()).toBe(1);
    const refused = flaky(1, new Error('refused'));
    await expect(
      retryDatabaseStep(
        refused.step,
        new AbortController().signal,
        logger,
        (err) => (err as Error).message === 'refused',
      ),
    ).rejects.toThrow('refused');
    expect(refused.calls()).toBe(1);
  });

  it('gives up with the last error once the signal aborts, before a retry or during its backoff', async () => {
    const stop = new AbortController();
    const f = flaky(Infinity);
    const retrying = retryDatabaseStep(f.step, stop.signal, logger);
    stop.abort();
    await expect(retrying).rejects.toThrow('connection terminated');
    expect(f.calls()).toBe(1);

    // Aborted as the first retry is announced: the backoff ends at once, no second call.
    const later = new AbortController();
    const g = flaky(Infinity);
    const announcing = { warn: () => later.abort() } as unknown as Logger;
    await expect(retryDatabaseStep(g.step, later.signal, announcing)).rejects.toThrow('connection terminated');
    expect(g.calls()).toBe(1);
  });
});
