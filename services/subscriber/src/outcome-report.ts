import type { ClaimedAction, Outcome } from '@cmq/actions';
import { CmqError, type ErrorReporter, errorCode } from '@cmq/common';

/** How a run ended, as the report reads it. */
export type ReportedRun = { ok: true } | { ok: false; err: unknown; timedOut: boolean; handedBack: boolean };

/**
 * Reports what an operator must see of one run (docs/error-reporting.md): a handler's
 * unexpected exception (a bug: anything thrown that is not a CmqError, since a CmqError is the
 * handler's own transient or permanent verdict), else an action ending `dead`, or `failed` by
 * its handler's verdict. One report at most per run; retries, refusals and hand-backs none.
 */
export function reportOutcome(
  reporter: ErrorReporter,
  action: Pick<ClaimedAction, 'id' | 'tenant_id' | 'type' | 'attempts'>,
  run: ReportedRun,
  outcome: Outcome,
): void {
  if (!reporter.enabled) return;
  const tags = { tenant: action.tenant_id, action: action.id, type: action.type, attempt: action.attempts };
  const extra = { state: outcome.state };
  if (!run.ok && !run.timedOut && !run.handedBack && !(run.err instanceof CmqError)) {
    reporter.captureException(run.err, { kind: 'bug', code: errorCode(run.err), ...tags, extra });
    return;
  }
  if (outcome.state !== 'dead' && outcome.state !== 'failed') return;
  const code = run.ok ? 'handler_verdict' : run.timedOut ? 'timeout' : errorCode(run.err);
  reporter.captureMessage(`${action.type} ended ${outcome.state}: ${outcome.error ?? 'no error text'}`, {
    kind: outcome.state,
    code,
    ...tags,
    extra,
  });
}
