import { type BusyWorker, GraceClock, Recovery, frozenReason, workerLabel } from '@cmq/actions';
import type { Sql } from '@cmq/common';
import pino from 'pino';

const logger = pino({ level: 'silent' });

describe('GraceClock', () => {
  it('names a key once it has been missing for the whole grace, not before', () => {
    const clock = new GraceClock<string>(1_000);
    expect(clock.observe(['a'], 0)).toEqual([]);
    expect(clock.observe(['a', 'b'], 999)).toEqual([]);
    expect(clock.observe(['a', 'b'], 1_000)).toEqual(['a']);
    expect(clock.missingSince('b')).toBe(999);
  });

  it('starts a key over when it is seen present, forgotten or reset', () => {
    const clock = new GraceClock<string>(1_000);
    clock.observe(['a', 'b', 'c'], 0);
    expect(clock.observe(['b', 'c'], 500)).toEqual([]); // a was present
    clock.forget('b');
    expect(clock.observe(['a', 'b', 'c'], 1_000)).toEqual(['c']);
    clock.reset();
    expect(clock.observe(['a', 'b', 'c'], 1_500)).toEqual([]);
    expect(clock.observe(['a', 'b', 'c'], 2_500)).toEqual(['a', 'b', 'c']);
  });
});

/** Running actions by id → worker id, the workers, and which still hold their lock. */
class World {
  readonly running = new Map<string, string>();
  readonly locked = new Set<string>();
  readonly events: Array<{ ids: string[]; reason?: string }> = [];
  readonly workers = new Map<string, BusyWorker>();

  worker(id: string, ...actions: string[]): BusyWorker {
    const w = { id, service: 'subscriber', name: 's', host: 'h', pid: Number(id), running: actions.length };
    this.workers.set(id, w);
    for (const a of actions) this.running.set(a, id);
    return w;
  }

  readonly sql = {
    query: (q: string | { text: string }, values: unknown[] = []) => {
      const text = typeof q === 'string' ? q : q.text;
      const rows = (r: unknown[]): Promise<{ rows: unknown[]; rowCount: number }> =>
        Promise.resolve({ rows: r, rowCount: r.length });
      if (text.includes('JOIN workers w')) {
        const busy = new Set(this.running.values());
        return rows([...this.workers.values()].filter((w) => busy.has(w.id)));
      }
      if (text.includes('AND worker_id = $1')) {
        const ids = [...this.running].filter(([, w]) => w === values[0]).map(([a]) => a);
        for (const id of ids) this.running.delete(id);
        this.events.push({ ids, reason: values[2] as string });
        return rows(ids.map((id) => ({ id })));
      }
      if (text.includes('FOR UPDATE SKIP LOCKED')) {
        const ids = (values[0] as string[]).filter((a) => !this.locked.has(this.running.get(a) ?? ''));
        for (const id of ids) this.running.delete(id);
        this.events.push({ ids });
        return rows([{ n: ids.length }]);
      }
      if (text.includes('LIMIT $1'))
        return rows([...this.running].filter(([, w]) => !this.locked.has(w)).map(([id]) => ({ id })));
      return rows([]); // pg_notify
    },
  } as unknown as Sql;
}

describe('Recovery: heartbeat gone, the worker is frozen', () => {
  function setUp(beating: Set<string>, failing = { now: false }): { world: World; recovery: Recovery } {
    const world = new World();
    const probe = {
      alive: (ws: readonly BusyWorker[]) =>
        failing.now ? Promise.reject(new Error('redis is away')) : Promise.resolve(ws.map((w) => beating.has(w.id))),
    };
    const recovery = new Recovery({ sql: world.sql, logger, actor: 'test', heartbeats: { probe, graceMs: 1_000 } });
    return { world, recovery };
  }

  it('gives back the actions of a worker whose heartbeat has been missing for the grace, not a live one', async () => {
    const { world, recovery } = setUp(new Set(['2']));
    const frozen = world.worker('1', 'a1', 'a2');
    world.worker('2', 'b1');
    expect(await recovery.recoverFrozen(0)).toBe(0);
    expect(await recovery.recoverFrozen(999)).toBe(0);
    expect(await recovery.recoverFrozen(1_000)).toBe(2);
    expect(world.events).toEqual([{ ids: ['a1', 'a2'], reason: frozenReason(workerLabel(frozen)) }]);
    expect([...world.running.keys()]).toEqual(['b1']);
  });

  it('reaps nothing while the heartbeats cannot be read, and starts the grace over after', async () => {
    const failing = { now: false };
    const { world, recovery } = setUp(new Set(), failing);
    world.worker('1', 'a1');
    expect(await recovery.recoverFrozen(0)).toBe(0);
    failing.now = true;
    await expect(recovery.recoverFrozen(5_000)).rejects.toThrow('redis is away');
    failing.now = false;
    expect(await recovery.recoverFrozen(6_000)).toBe(0);
    expect(await recovery.recoverFrozen(7_000)).toBe(1);
  });

  it('cannot run without a heartbeat probe', async () => {
    const recovery = new Recovery({ sql: new World().sql, logger, actor: 'test' });
    await expect(recovery.recoverFrozen(0)).rejects.toThrow('without a heartbeat probe');
  });
});

describe('Recovery: lock gone, the worker is dead', () => {
  function setUp(): { world: World; recovery: Recovery } {
    const world = new World();
    const recovery = new Recovery({ sql: world.sql, logger, actor: 'test', dead: { lookMs: 100, graceMs: 1_000 } });
    return { world, recovery };
  }

  it('gives back an action whose worker has held no lock for the grace, looking at most once per interval', async () => {
    const { world, recovery } = setUp();
    world.worker('1', 'a1');
    world.worker('2', 'b1');
    world.locked.add('2');
    expect(await recovery.recoverDead(0)).toBe(0);
    expect(await recovery.recoverDead(1_000 - 1)).toBe(0);
    expect(await recovery.recoverDead(1_050)).toBe(0); // within the look interval of the last look
    expect(await recovery.recoverDead(1_100)).toBe(1);
    expect(world.events).toEqual([{ ids: ['a1'] }]);
    expect([...world.running.keys()]).toEqual(['b1']);
  });

  it('starts over for a worker that took its lock again (a database restart)', async () => {
    const { world, recovery } = setUp();
    world.worker('1', 'a1');
    expect(await recovery.recoverDead(0)).toBe(0);
    world.locked.add('1');
    expect(await recovery.recoverDead(500)).toBe(0);
    world.locked.delete('1');
    expect(await recovery.recoverDead(1_000)).toBe(0);
    expect(await recovery.recoverDead(1_950)).toBe(0);
    expect(await recovery.recoverDead(2_050)).toBe(1);
  });
});
