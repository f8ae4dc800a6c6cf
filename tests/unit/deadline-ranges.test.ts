import { sizeRanges, utf8Bound } from '@cmq/actions';
import { withDeadline } from '@cmq/common';

describe('withDeadline', () => {
  it('gives the work when it settles first, and leaves no timer or listener behind', async () => {
    const stop = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = stop.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...a: Parameters<AbortSignal['addEventListener']>) => {
      added += 1;
      add(...a);
    };
    signal.removeEventListener = (...a: Parameters<AbortSignal['removeEventListener']>) => {
      removed += 1;
      remove(...a);
    };
    for (let i = 0; i < 100; i += 1)
      expect(await withDeadline(Promise.resolve(i), 60_000, () => new Error('late'), signal)).toBe(i);
    expect([added, removed]).toEqual([100, 100]);
    await expect(withDeadline(Promise.reject(new Error('own')), 60_000, () => new Error('late'))).rejects.toThrow(
      'own',
    );
  });

  it('rejects with late(false) after ms, and with late(true) when the signal aborts (or had)', async () => {
    const never = new Promise<number>(() => undefined);
    await expect(withDeadline(never, 20, (stopped) => new Error(`late ${stopped}`))).rejects.toThrow('late false');
    const stop = new AbortController();
    const waiting = withDeadline(never, 60_000, (stopped) => new Error(`late ${stopped}`), stop.signal);
    stop.abort();
    await expect(waiting).rejects.toThrow('late true');
    await expect(withDeadline(never, 60_000, (stopped) => new Error(`late ${stopped}`), stop.signal)).rejects.toThrow(
      'late true',
    );
  });
});

describe('sizeRanges', () => {
  it('splits in order within the bound; an item over it goes alone; one range when all fits', () => {
    expect(sizeRanges([1, 2, 3], 10)).toEqual([[0, 3]]);
    expect(sizeRanges([4, 4, 4, 20, 1, 9, 1], 10)).toEqual([
      [0, 2],
      [2, 3],
      [3, 4],
      [4, 6],
      [6, 7],
    ]);
    expect(sizeRanges([], 10)).toEqual([]);
  });

  it('bounds UTF-8 bytes, not characters: three bytes a character for short text, exact for long', () => {
    expect(utf8Bound('abc')).toBe(9);
    expect(utf8Bound(null)).toBe(0);
    expect(utf8Bound('€'.repeat(2_000_000))).toBe(6_000_000);
    expect(utf8Bound('a'.repeat(2_000_000))).toBe(2_000_000);
  });
});
