import type { ActionType, ArgsOf, ClaimedAction } from '@cmq/actions';
import type { Logger, RedisClient } from '@cmq/common';
import type { CloudServices, Handler, HandlerContext, HandlerResult, SshServices } from './handlers';

/** What a run needs besides the action. */
export interface HandlerRunOptions {
  /** subscriber.properties `action.timeout`. */
  timeoutMs: number;
  logger: Logger;
  redis: RedisClient;
  ssh?: SshServices;
  cloud?: CloudServices;
}

/** How a handler's run ended, with its duration and the run's logger (made on first use). */
export type RunReport = { ms: number; logger: () => Logger } & (
  { ok: true; result: HandlerResult } | { ok: false; err: unknown; timedOut: boolean }
);

/**
 * Runs `handler` for one attempt of `action`, with arguments already parsed, under
 * `opts.timeoutMs` and `stop` (the process stopping): both abort the signal the handler reads.
 */
export async function runHandler(
  handler: Handler,
  action: Pick<ClaimedAction, 'id' | 'tenant_id' | 'attempts'>,
  checked: { type: ActionType; args: ArgsOf<ActionType> },
  stop: AbortSignal,
  opts: HandlerRunOptions,
): Promise<RunReport> {
  const lazy = lazyContext(action, checked, stop, opts);
  try {
    const result = await handler(lazy.ctx);
    return { ok: true, result, ms: lazy.ms(), logger: lazy.logger };
  } catch (err) {
    return { ok: false, err, timedOut: lazy.timedOut(), ms: lazy.ms(), logger: lazy.logger };
  } finally {
    lazy.dispose();
  }
}

/**
 * A handler's context whose logger and signal are made on first use: the child logger, the
 * AbortController, its timer and the stop listener cost more than a noop handler itself (pino
 * redacts a child's bindings). A handler that never reads its signal could not be interrupted
 * by it anyway, so its timeout is judged by the clock.
 */
function lazyContext(
  action: Pick<ClaimedAction, 'id' | 'tenant_id' | 'attempts'>,
  checked: { type: ActionType; args: ArgsOf<ActionType> },
  stop: AbortSignal,
  opts: HandlerRunOptions,
): { ctx: HandlerContext; logger: () => Logger; ms: () => number; timedOut: () => boolean; dispose: () => void } {
  const started = Date.now();
  let childLogger: Logger | undefined;
  const logger = (): Logger =>
    (childLogger ??= opts.logger.child({
      tenant: action.tenant_id,
      action: action.id,
      type: checked.type,
      attempt: action.attempts,
    }));
  let run: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const onStop = (): void => run?.abort();
  const signal = (): AbortSignal => {
    if (run === undefined) {
      run = new AbortController();
      timer = setTimeout(() => run?.abort(), Math.max(0, opts.timeoutMs - (Date.now() - started)));
      if (stop.aborted) run.abort();
      else stop.addEventListener('abort', onStop, { once: true });
    }
    return run.signal;
  };
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
    redis: opts.redis,
    ssh: opts.ssh,
    cloud: opts.cloud,
  };
  const ms = (): number => Date.now() - started;
  const timedOut = (): boolean => !stop.aborted && (run !== undefined ? run.signal.aborted : ms() >= opts.timeoutMs);
  const dispose = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (run !== undefined) stop.removeEventListener('abort', onStop);
  };
  return { ctx, logger, ms, timedOut, dispose };
}
