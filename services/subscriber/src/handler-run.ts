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
  const ctx = new LazyContext(action, checked, stop, opts);
  const logger = (): Logger => ctx.logger;
  try {
    const result = await handler(ctx);
    return { ok: true, result, ms: ctx.ms(), logger };
  } catch (err) {
    return { ok: false, err, timedOut: ctx.timedOut(), ms: ctx.ms(), logger };
  } finally {
    ctx.dispose();
  }
}

/**
 * A handler's context whose logger and signal are made on first use: the child logger, the
 * AbortController, its timer and the stop listener cost more than a noop handler itself (pino
 * redacts a child's bindings). A handler that never reads its signal could not be interrupted
 * by it anyway, so its timeout is judged by the clock. One object per run, the context itself.
 */
class LazyContext implements HandlerContext {
  readonly id: string;
  readonly tenant: string;
  readonly type: ActionType;
  readonly args: ArgsOf<ActionType>;
  readonly attempt: number;
  readonly redis: RedisClient;
  readonly ssh: SshServices | undefined;
  readonly cloud: CloudServices | undefined;
  private readonly started = Date.now();
  private childLogger: Logger | undefined;
  private run: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onStop: (() => void) | undefined;

  constructor(
    action: Pick<ClaimedAction, 'id' | 'tenant_id' | 'attempts'>,
    checked: { type: ActionType; args: ArgsOf<ActionType> },
    private readonly stop: AbortSignal,
    private readonly opts: HandlerRunOptions,
  ) {
    this.id = action.id;
    this.tenant = action.tenant_id;
    this.type = checked.type;
    this.args = checked.args;
    this.attempt = action.attempts;
    this.redis = opts.redis;
    this.ssh = opts.ssh;
    this.cloud = opts.cloud;
  }

  get logger(): Logger {
    return (this.childLogger ??= this.opts.logger.child({
      tenant: this.tenant,
      action: this.id,
      type: this.type,
      attempt: this.attempt,
    }));
  }

  get signal(): AbortSignal {
    if (this.run === undefined) {
      const run = (this.run = new AbortController());
      this.timer = setTimeout(() => run.abort(), Math.max(0, this.opts.timeoutMs - this.ms()));
      this.onStop = () => run.abort();
      if (this.stop.aborted) run.abort();
      else this.stop.addEventListener('abort', this.onStop, { once: true });
    }
    return this.run.signal;
  }

  ms(): number {
    return Date.now() - this.started;
  }

  timedOut(): boolean {
    return !this.stop.aborted && (this.run !== undefined ? this.run.signal.aborted : this.ms() >= this.opts.timeoutMs);
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.onStop !== undefined) this.stop.removeEventListener('abort', this.onStop);
  }
}
