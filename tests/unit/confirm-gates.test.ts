import { type AmqpClient, type Family, StatusBoard } from '@cmq/common';
import { ConfirmGates } from '@cmq/publisher';

const TIMEOUT = 1_000;
const START = new Date('2026-12-07T10:00:00.000Z');

/** A settable promise standing for one publish's confirm. */
function confirmLater(): { promise: Promise<void>; confirm: () => void; refuse: () => void } {
  let confirm!: () => void;
  let refuse!: () => void;
  const promise = new Promise<void>((res, rej) => {
    confirm = res;
    refuse = () => rej(new Error('nack'));
  });
  return { promise, confirm, refuse };
}

/** ConfirmGates over a fake connection (only `blocked` is read) and a real StatusBoard. */
function setUp(): {
  gates: ConfirmGates;
  status: StatusBoard;
  broker: { blocked: string | undefined };
  opened: () => number;
  stale: Array<{ family: Family; outstanding: number; since: string }>;
  errors: unknown[];
  failOpen: () => void;
} {
  const broker: { blocked: string | undefined } = { blocked: undefined };
  const status = new StatusBoard();
  let opens = 0;
  let throwOnOpen = false;
  const stale: Array<{ family: Family; outstanding: number; since: string }> = [];
  const errors: unknown[] = [];
  const gates = new ConfirmGates({
    // The gates read only `blocked` from the connection: the fake stands at that seam.
    amqp: broker as unknown as AmqpClient,
    status,
    confirmTimeoutMs: TIMEOUT,
    onOpen: () => {
      opens += 1;
      if (throwOnOpen) throw new Error('wake failed');
    },
    onStale: (family, outstanding, since) => stale.push({ family, outstanding, since }),
    onError: (err) => errors.push(err),
  });
  return { gates, status, broker, opened: () => opens, stale, errors, failOpen: () => (throwOnOpen = true) };
}

/** Holds `family` on `n` sends; `unanswered` counts those not yet confirmed or refused. */
function holdOn(gates: ConfirmGates, family: Family, n: number): Array<ReturnType<typeof confirmLater>> {
  const sends = Array.from({ length: n }, () => confirmLater());
  let answered = 0;
  for (const s of sends) s.promise.then(() => (answered += 1)).catch(() => (answered += 1));
  gates.hold(
    family,
    sends.map((s) => s.promise),
    n,
    () => n - answered,
  );
  return sends;
}

const text = (unanswered: number, total: number, queue: string): string =>
  `relay: the broker has not confirmed ${unanswered} of ${total} actions of a ${queue} batch given up on at ${START.toISOString()}; relaying nothing to ${queue} until it does`;

beforeEach(() => jest.useFakeTimers({ now: START }));
afterEach(() => jest.useRealTimers());

describe('ConfirmGates', () => {
  it('holds only the family given up on, and says so on the status board', () => {
    const { gates, status } = setUp();
    expect(gates.holds('provision')).toBe(false);
    holdOn(gates, 'provision', 3);
    expect(gates.holds('provision')).toBe(true);
    for (const other of ['monitor', 'guest', 'control'] as const) expect(gates.holds(other)).toBe(false);
    expect(status.summary()).toBe(text(3, 3, 'cmq.provision'));
  });

  it('opens once every send has settled, confirmed or refused: status cleared, the relay woken once', async () => {
    const { gates, status, opened } = setUp();
    const sends = holdOn(gates, 'monitor', 3);
    sends[0]?.confirm();
    sends[1]?.refuse();
    await jest.advanceTimersByTimeAsync(0);
    expect(gates.holds('monitor')).toBe(true);
    expect(opened()).toBe(0);
    sends[2]?.confirm();
    await jest.advanceTimersByTimeAsync(0);
    expect(gates.holds('monitor')).toBe(false);
    expect(status.summary()).toBe('');
    expect(opened()).toBe(1);
  });

  it('after a further confirm timeout with no alarm, asks once for a reopen, with the count still unanswered', async () => {
    const { gates, status, stale } = setUp();
    const sends = holdOn(gates, 'guest', 4);
    sends[0]?.confirm();
    await jest.advanceTimersByTimeAsync(TIMEOUT - 1);
    expect(stale).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(stale).toEqual([{ family: 'guest', outstanding: 3, since: START.toISOString() }]);
    expect(status.summary()).toBe(text(3, 4, 'cmq.guest'));
    // Once per gate: the reopen fails what still waits, which opens it.
    await jest.advanceTimersByTimeAsync(TIMEOUT * 5);
    expect(stale).toHaveLength(1);
    expect(gates.holds('guest')).toBe(true);
  });

  it('while a resource alarm explains the wait, asks for no reopen and looks again a confirm timeout later', async () => {
    const { gates, broker, stale, status } = setUp();
    broker.blocked = 'disk alarm';
    const sends = holdOn(gates, 'provision', 2);
    await jest.advanceTimersByTimeAsync(TIMEOUT * 3);
    expect(stale).toEqual([]);
    expect(gates.holds('provision')).toBe(true);
    sends[0]?.confirm();
    broker.blocked = undefined;
    await jest.advanceTimersByTimeAsync(TIMEOUT);
    expect(stale).toEqual([{ family: 'provision', outstanding: 1, since: START.toISOString() }]);
    expect(status.summary()).toBe(text(1, 2, 'cmq.provision'));
  });

  it('a gate that opens in time asks for nothing later', async () => {
    const { gates, stale } = setUp();
    const sends = holdOn(gates, 'control', 1);
    await jest.advanceTimersByTimeAsync(TIMEOUT / 2);
    sends[0]?.confirm();
    await jest.advanceTimersByTimeAsync(TIMEOUT * 3);
    expect(stale).toEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('close() opens every gate for good: no status, no wake-up, no reopen, no new gate', async () => {
    const { gates, status, opened, stale } = setUp();
    const provision = holdOn(gates, 'provision', 1);
    holdOn(gates, 'monitor', 1);
    gates.close();
    expect(gates.holds('provision')).toBe(false);
    expect(gates.holds('monitor')).toBe(false);
    expect(status.summary()).toBe('');
    provision[0]?.confirm();
    await jest.advanceTimersByTimeAsync(TIMEOUT * 3);
    expect(opened()).toBe(0);
    expect(stale).toEqual([]);
    holdOn(gates, 'guest', 1);
    expect(gates.holds('guest')).toBe(false);
    expect(status.summary()).toBe('');
  });

  it('an opening that throws is reported to onError, and the gate is open all the same', async () => {
    const { gates, errors, failOpen } = setUp();
    failOpen();
    const sends = holdOn(gates, 'monitor', 1);
    sends[0]?.confirm();
    await jest.advanceTimersByTimeAsync(0);
    expect(errors.map((e) => (e as Error).message)).toEqual(['wake failed']);
    expect(gates.holds('monitor')).toBe(false);
  });
});
