import { CmqError } from '@cmq/common';
import type { Handler } from './handler';

function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new CmqError('CMQ_ERR_ABORTED', 'noop interrupted', { transient: true }));
      },
      { once: true },
    );
  });
}

/**
 * Does nothing, for tests, benchmarks and drills: `sleep_ms` sleeps (interruptible),
 * `fail_times` fails transiently on the first N attempts, `fail: permanent` fails permanently,
 * `fail: outcome` ends `failed`, `fail: bug` throws what a handler's bug would (a plain Error,
 * not a CmqError: the drill of error reporting), `message` is added to the failure's text,
 * `count` adds one to the action's run counter in Redis.
 */
export const noop: Handler<'noop'> = async (ctx) => {
  const { id, tenant, args, attempt, redis } = ctx;
  // ctx.signal is read only when needed: the executor makes it on first use.
  if (typeof args.sleep_ms === 'number' && args.sleep_ms > 0) await sleepFor(args.sleep_ms, ctx.signal);
  if (typeof args.fail_times === 'number' && attempt <= args.fail_times) {
    throw new CmqError(
      'CMQ_ERR_NOOP_TRANSIENT',
      `noop failing on purpose (attempt ${attempt} of the first ${args.fail_times})`,
      { transient: true },
    );
  }
  const detail = args.message === undefined ? '' : `: ${args.message}`;
  if (args.fail === 'permanent')
    throw new CmqError('CMQ_ERR_NOOP_PERMANENT', `noop failing permanently on purpose${detail}`);
  if (args.fail === 'bug') throw new TypeError(`noop drill: an unexpected error, as a handler bug throws${detail}`);
  if (args.count === true) await redis.noopRuns.increment(tenant, id);
  if (args.fail === 'outcome') return { status: 'failed', error: `noop reporting failure on purpose${detail}` };
  return { status: 'succeeded', result: { attempt } };
};
