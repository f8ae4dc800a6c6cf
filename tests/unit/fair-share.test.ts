import { pickFair } from '@cmq/actions';

/** `n` items named `<tenant><i>`, in order. */
const items = (tenant: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${tenant}${i + 1}`);
const map = <V>(entries: Array<[string, V]>): Map<string, V> => new Map(entries);

describe('pickFair', () => {
  it("one tenant's flood does not starve another's single action: turns go round-robin", () => {
    const picked = pickFair(
      map([
        ['a', items('a', 100)],
        ['b', items('b', 1)],
        ['c', items('c', 2)],
      ]),
      map([]),
      6,
      50,
    );
    expect(picked).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3']);
  });

  it('picks at most `free` in all', () => {
    expect(pickFair(map([['a', items('a', 10)]]), map([]), 3, 50)).toEqual(['a1', 'a2', 'a3']);
    expect(pickFair(map([['a', items('a', 10)]]), map([]), 0, 50)).toEqual([]);
  });

  it("counts a tenant's in-flight actions against its cap", () => {
    const picked = pickFair(
      map([
        ['a', items('a', 10)],
        ['b', items('b', 10)],
      ]),
      map([
        ['a', 3],
        ['b', 0],
      ]),
      20,
      4,
    );
    expect(picked.filter((p) => p.startsWith('a'))).toEqual(['a1']);
    expect(picked.filter((p) => p.startsWith('b'))).toEqual(['b1', 'b2', 'b3', 'b4']);
  });

  it('gives nothing to a tenant at or over its cap (a lowered cap leaves no negative room)', () => {
    const picked = pickFair(
      map([
        ['a', items('a', 5)],
        ['b', items('b', 5)],
        ['c', items('c', 5)],
      ]),
      map([
        ['a', 2],
        ['b', 7],
        ['c', 1],
      ]),
      10,
      2,
    );
    expect(picked).toEqual(['c1']);
  });

  it('serves the tenants with least in flight first, then by name', () => {
    const candidates = map([
      ['b', items('b', 3)],
      ['a', items('a', 3)],
      ['c', items('c', 3)],
    ]);
    const inflight = map([
      ['a', 2],
      ['b', 0],
      ['c', 0],
    ]);
    expect(pickFair(candidates, inflight, 1, 10)).toEqual(['b1']);
    expect(pickFair(candidates, inflight, 3, 10)).toEqual(['b1', 'c1', 'a1']);
    // The order of the first round stays for the next rounds.
    expect(pickFair(candidates, inflight, 5, 10)).toEqual(['b1', 'c1', 'a1', 'b2', 'c2']);
  });

  it("keeps each tenant's own order and skips tenants with nothing due", () => {
    const picked = pickFair(
      map([
        ['a', ['x', 'y', 'z']],
        ['b', []],
      ]),
      map([]),
      10,
      10,
    );
    expect(picked).toEqual(['x', 'y', 'z']);
  });

  it('stops when every tenant is out of items or room, however much is free', () => {
    const picked = pickFair(
      map([
        ['a', items('a', 2)],
        ['b', items('b', 5)],
      ]),
      map([]),
      100,
      3,
    );
    expect(picked).toEqual(['a1', 'b1', 'a2', 'b2', 'b3']);
  });

  it('returns nothing when no tenant has a candidate', () => {
    expect(pickFair(new Map<string, string[]>(), map([['a', 1]]), 10, 10)).toEqual([]);
  });
});
