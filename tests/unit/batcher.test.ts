import { Batcher } from '@cmq/subscriber';

class Refused extends Error {}

describe('Batcher', () => {
  it('runs items that arrive while a batch runs together in the next batch', async () => {
    const batches: number[][] = [];
    const b = new Batcher<number, number>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 20));
      return items.map((i) => i * 10);
    }, 100);
    const results = await Promise.all([1, 2, 3, 4].map((i) => b.add(i)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('a batch refused for one item is run again item by item: only that item fails', async () => {
    const batches: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        batches.push(items);
        await new Promise((r) => setTimeout(r, 5));
        if (items.includes(3)) throw new Refused('3 is refused');
        return items.map((i) => i * 10);
      },
      100,
      1,
      (err) => err instanceof Refused,
    );
    const settled = await Promise.allSettled([1, 2, 3, 4].map((i) => b.add(i)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
      10,
      20,
      '3 is refused',
      40,
    ]);
    expect(batches).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('any other failure fails the whole batch at once (its items are retried by their callers)', async () => {
    let runs = 0;
    const b = new Batcher<number, number>(
      async (items) => {
        runs += 1;
        await new Promise((r) => setTimeout(r, 5));
        if (items.length > 1) throw new Error('connection lost');
        return items;
      },
      100,
      1,
      (err) => err instanceof Refused,
    );
    const settled = await Promise.allSettled([1, 2, 3].map((i) => b.add(i)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(runs).toBe(2);
  });
});
