import { PublishRefused, StatusBoard } from '@cmq/common';
import { FamilyBackoff, REOPEN_AFTER, REOPEN_EVERY } from '@cmq/publisher';
import { captureLogs } from '../helpers/log-capture';

const FAILED = 'relaying a family failed; the others go on';
const REOPENING = 'the broker refused a family again and again: reopening the broker connection';

/** A FamilyBackoff on a clock the test moves, with no jitter (random 0.5 is a factor of 1). */
function setUp(): {
  backoff: FamilyBackoff;
  status: StatusBoard;
  lines: ReturnType<typeof captureLogs>['lines'];
  clock: { now: number };
  reopens: () => number;
} {
  const { logger, lines } = captureLogs();
  const status = new StatusBoard();
  const clock = { now: 1_000_000 };
  let reopened = 0;
  const backoff = new FamilyBackoff({
    logger,
    status,
    reopen: () => (reopened += 1),
    now: () => clock.now,
    random: () => 0.5,
  });
  return { backoff, status, lines, clock, reopens: () => reopened };
}

const refused = (): PublishRefused => new PublishRefused('CMQ_ERR_PUBLISH_REFUSED', 'the broker refused (nack)');

describe('FamilyBackoff', () => {
  it('a failed family waits 200 ms, then twice as long each failure in a row, at most 10 s', () => {
    const { backoff, clock } = setUp();
    const waits: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      backoff.failed('provision', new Error('boom'), true);
      const start = clock.now;
      while (backoff.waiting('provision')) clock.now += 50;
      waits.push(clock.now - start);
    }
    expect(waits).toEqual([200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
  });

  it('a family that never failed, or whose wait is over, does not wait', () => {
    const { backoff, clock } = setUp();
    expect(backoff.waiting('monitor')).toBe(false);
    backoff.failed('monitor', new Error('boom'), true);
    expect(backoff.waiting('monitor')).toBe(true);
    clock.now += 199;
    expect(backoff.waiting('monitor')).toBe(true);
    clock.now += 1;
    expect(backoff.waiting('monitor')).toBe(false);
  });

  it('families are independent: one failing does not hold back the others', () => {
    const { backoff } = setUp();
    backoff.failed('provision', new Error('queue full'), true);
    expect(backoff.waiting('provision')).toBe(true);
    for (const other of ['monitor', 'guest', 'control'] as const) expect(backoff.waiting(other)).toBe(false);
  });

  it('going through forgets the failures: the next failure starts from the first wait again', () => {
    const { backoff, clock } = setUp();
    for (let i = 0; i < 4; i += 1) backoff.failed('guest', new Error('boom'), true);
    backoff.succeeded('guest');
    expect(backoff.waiting('guest')).toBe(false);
    backoff.failed('guest', new Error('boom'), true);
    clock.now += 200;
    expect(backoff.waiting('guest')).toBe(false);
  });

  it('logs the first three failures in a row and every tenth, and only when asked to', () => {
    const { backoff, lines } = setUp();
    for (let i = 0; i < 20; i += 1) backoff.failed('provision', new Error('boom'), true);
    const logged = lines.filter((l) => l.msg === FAILED);
    expect(logged.map((l) => l.failures)).toEqual([1, 2, 3, 10, 20]);
    expect(logged[0]).toMatchObject({ family: 'provision', err: 'boom', retryInMs: 200, level: 40 });

    const quiet = setUp();
    for (let i = 0; i < 10; i += 1) quiet.backoff.failed('provision', new Error('boom'), false);
    expect(quiet.lines.filter((l) => l.msg === FAILED)).toEqual([]);
  });

  it('shows on the status board from the third failure on, updated with each logged failure, until it goes through', () => {
    const { backoff, status } = setUp();
    backoff.failed('monitor', new Error('boom'), true);
    backoff.failed('monitor', new Error('boom'), true);
    expect(status.summary()).toBe('');
    backoff.failed('monitor', new Error('boom'), true);
    const third = 'relay: cmq.monitor failed 3 times in a row (last: boom); retrying with backoff';
    expect(status.summary()).toBe(third);
    // Unlogged failures leave the text as it was, so the status changes no more often than the log.
    for (let i = 4; i <= 9; i += 1) backoff.failed('monitor', new Error('other'), true);
    expect(status.summary()).toBe(third);
    backoff.failed('monitor', new Error('last one'), true);
    expect(status.summary()).toBe(
      'relay: cmq.monitor failed 10 times in a row (last: last one); retrying with backoff',
    );
    // The status shows even when every family failed at once (nothing logged per family then).
    backoff.failed('guest', new Error('db away'), false);
    backoff.failed('guest', new Error('db away'), false);
    backoff.failed('guest', new Error('db away'), false);
    expect(status.summary()).toContain('relay: cmq.guest failed 3 times in a row (last: db away)');
    backoff.succeeded('monitor');
    backoff.succeeded('guest');
    expect(status.summary()).toBe('');
  });

  it('going through when it had not failed leaves the status board alone (no heartbeat for nothing)', () => {
    const { backoff, status } = setUp();
    let changes = 0;
    status.onChange(() => (changes += 1));
    backoff.succeeded('control');
    expect(changes).toBe(0);
  });

  it(`asks for a reopen after ${REOPEN_AFTER} refusals in a row, then every ${REOPEN_EVERY} more`, () => {
    const { backoff, lines, reopens } = setUp();
    const at: number[] = [];
    for (let n = 1; n <= 23; n += 1) {
      const before = reopens();
      backoff.failed('provision', refused(), true);
      if (reopens() > before) at.push(n);
    }
    expect(at).toEqual([5, 11, 17, 23]);
    expect(lines.filter((l) => l.msg === REOPENING).map((l) => l.refusals)).toEqual([5, 11, 17, 23]);
  });

  it('counts only refusals in a row: another failure starts the count again; other families count apart', () => {
    const { backoff, reopens } = setUp();
    for (let n = 0; n < 4; n += 1) backoff.failed('provision', refused(), true);
    backoff.failed('provision', new Error('confirm timeout'), true);
    for (let n = 0; n < 4; n += 1) backoff.failed('provision', refused(), true);
    for (let n = 0; n < 4; n += 1) backoff.failed('monitor', refused(), true);
    expect(reopens()).toBe(0);
    backoff.failed('provision', refused(), true);
    expect(reopens()).toBe(1);
  });

  it('a success between refusals starts their count again', () => {
    const { backoff, reopens } = setUp();
    for (let n = 0; n < 4; n += 1) backoff.failed('control', refused(), true);
    backoff.succeeded('control');
    for (let n = 0; n < 4; n += 1) backoff.failed('control', refused(), true);
    expect(reopens()).toBe(0);
  });
});
