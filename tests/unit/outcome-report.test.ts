import type { Outcome } from '@cmq/actions';
import { CmqError, type ErrorReporter, type ReportContext } from '@cmq/common';
import { reportOutcome } from '@cmq/subscriber';

/** A reporter that keeps what it was given (the adapter seam; the real one is in e2e error-reporting). */
function recorder(): ErrorReporter & { reports: Array<{ what: unknown; ctx: ReportContext }> } {
  const reports: Array<{ what: unknown; ctx: ReportContext }> = [];
  return {
    enabled: true,
    dropped: new Map(),
    sent: 0,
    reports,
    captureException: (err, ctx) => void reports.push({ what: err, ctx }),
    captureMessage: (message, ctx) => void reports.push({ what: message, ctx }),
    flush: () => Promise.resolve(true),
  };
}

const action = { id: '7', tenant_id: 'acme', type: 'noop', attempts: 2 };
const outcome = (state: Outcome['state'], error?: string): Outcome => ({ id: '7', attempt: 2, state, error });
const failedRun = (err: unknown, extra: Partial<{ timedOut: boolean; handedBack: boolean }> = {}) => ({
  ok: false as const,
  err,
  timedOut: false,
  handedBack: false,
  ...extra,
});

it('a thrown non-CmqError is a bug, reported once with its tags, whatever the outcome', () => {
  for (const state of ['retrying', 'dead'] as const) {
    const r = recorder();
    const err = new TypeError('x is undefined');
    reportOutcome(r, action, failedRun(err), outcome(state));
    expect(r.reports).toEqual([
      {
        what: err,
        ctx: {
          kind: 'bug',
          code: 'TypeError',
          tenant: 'acme',
          action: '7',
          type: 'noop',
          attempt: 2,
          extra: { state },
        },
      },
    ]);
  }
});

it("a handler's own verdict is not a bug: retrying reports nothing, dead and failed one each", () => {
  const transient = new CmqError('CMQ_ERR_NOOP_TRANSIENT', 'again', { transient: true });
  const r = recorder();
  reportOutcome(r, action, failedRun(transient), outcome('retrying'));
  expect(r.reports).toEqual([]);
  reportOutcome(r, action, failedRun(transient), outcome('dead', 'gave up after 2 attempts: again'));
  reportOutcome(r, action, { ok: true }, outcome('failed', 'no such server'));
  expect(r.reports.map((x) => [x.ctx.kind, x.ctx.code, x.what])).toEqual([
    ['dead', 'CMQ_ERR_NOOP_TRANSIENT', 'noop ended dead: gave up after 2 attempts: again'],
    ['failed', 'handler_verdict', 'noop ended failed: no such server'],
  ]);
});

it('a timeout is no bug (dead after the last attempt, code timeout); a hand-back or a success is nothing', () => {
  const r = recorder();
  const aborted = new Error('aborted');
  reportOutcome(r, action, failedRun(aborted, { timedOut: true }), outcome('retrying'));
  reportOutcome(r, action, failedRun(aborted, { handedBack: true }), outcome('queued'));
  reportOutcome(r, action, { ok: true }, outcome('succeeded'));
  expect(r.reports).toEqual([]);
  reportOutcome(r, action, failedRun(aborted, { timedOut: true }), outcome('dead', 'timed out'));
  expect(r.reports.map((x) => [x.ctx.kind, x.ctx.code])).toEqual([['dead', 'timeout']]);
});
