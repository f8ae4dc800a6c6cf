import type { ClaimedAction, Mode, Outcome } from '@cmq/actions';
import { type ErrorReporter, type Logger, NO_REPORTER, type RedisClient } from '@cmq/common';
import { type CloudServices, type SshServices, handlerFor } from './handlers';
import { runHandler } from './handler-run';
import { type RetryPolicy, failureOutcome, resultOutcome } from './outcome-decision';
import { reportOutcome } from './outcome-report';
import { gate } from './run-gate';

export interface ExecutorOptions {
  timeoutMs: number;
  /** Backoff, and how many throttled runs of an action are not counted as attempts. */
  retry: RetryPolicy;
  logger: Logger;
  redis: RedisClient;
  ssh?: SshServices;
  cloud?: CloudServices;
  /** provisioning.cfg `mode`: a claimed action it refuses ends rejected (it may have changed since intake). */
  mode: Mode;
  /** Where bugs and dead or failed actions are reported (none when absent). */
  reporter?: ErrorReporter;
}

/**
 * Turns a claimed action into an outcome: asks the gate whether it may run (run-gate.ts), runs
 * its handler under a timeout with an AbortSignal (handler-run.ts), and decides from what
 * happened whether it succeeded, failed, is retried, ends dead or goes back to the queue when
 * `handingBack` says the subscriber stops (outcome-decision.ts). This class only logs.
 */
export class Executor {
  private readonly reporter: ErrorReporter;

  constructor(private readonly opts: ExecutorOptions) {
    this.reporter = opts.reporter ?? NO_REPORTER;
  }

  async run(action: ClaimedAction, stop: AbortSignal, handingBack: () => boolean): Promise<Outcome> {
    const decision = gate(action, this.opts.mode);
    if (!decision.run) {
      if (decision.state === 'rejected')
        this.opts.logger.warn(
          { tenant: action.tenant_id, action: action.id, type: action.type, reason: decision.error },
          'action rejected',
        );
      return { id: action.id, attempt: action.attempts, state: decision.state, error: decision.error };
    }
    const ran = await runHandler(handlerFor(decision.type), action, decision, stop, this.opts);
    if (ran.ok) {
      // Success is the common case: debug, so that a busy tenant's log shows what went wrong.
      if (ran.result.status === 'succeeded') {
        if (this.opts.logger.isLevelEnabled('debug')) ran.logger().debug({ ms: ran.ms }, 'action succeeded');
      } else ran.logger().warn({ ms: ran.ms, error: ran.result.error }, 'action failed');
      const outcome = resultOutcome(action, ran.result);
      reportOutcome(this.reporter, action, { ok: true }, outcome);
      return outcome;
    }
    const run = { err: ran.err, timedOut: ran.timedOut, handedBack: handingBack() };
    const failure = failureOutcome(action, run, { timeoutMs: this.opts.timeoutMs, retry: this.opts.retry });
    reportOutcome(this.reporter, action, { ok: false, ...run }, failure.outcome);
    if (failure.log !== undefined)
      ran
        .logger()
        .warn(
          { ms: ran.ms, err: failure.log.err, transient: failure.log.transient },
          failure.log.heldBack === true ? 'action held back by an outage' : 'action attempt failed',
        );
    return failure.outcome;
  }
}
