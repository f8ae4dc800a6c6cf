import {
  ACTORS,
  RUN_OUTCOMES,
  TRANSITIONS,
  actorsOf,
  checkTransitions,
  isAllowed,
  isFinalState,
  transition,
} from '@cmq/actions';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTION_STATES, type ActionState, FINAL_STATES, type Sql } from '@cmq/common';

/** The states reachable from `start` through the table. */
function reachable(start: ActionState | null): Set<ActionState> {
  const seen = new Set<ActionState>();
  const todo: Array<ActionState | null> = [start];
  for (let s = todo.pop(); s !== undefined; s = todo.pop()) {
    for (const r of TRANSITIONS)
      if (r.from.includes(s))
        for (const t of r.to)
          if (!seen.has(t)) {
            seen.add(t);
            todo.push(t);
          }
  }
  return seen;
}

describe('the action lifecycle', () => {
  it('names only the states of @cmq/common, and every one of them is reachable from intake', () => {
    for (const r of TRANSITIONS)
      for (const s of [...r.from, ...r.to]) if (s !== null) expect(ACTION_STATES).toContain(s);
    expect([...reachable(null)].sort()).toEqual([...ACTION_STATES].sort());
  });

  it('lets every state that is not final reach a final state', () => {
    for (const s of ACTION_STATES.filter((x) => !isFinalState(x)))
      expect([...reachable(s)].some((t) => FINAL_STATES.includes(t))).toBe(true);
  });

  it('leaves a final state only by an operator replaying a dead action', () => {
    const out = TRANSITIONS.filter((r) => r.from.some((f) => f !== null && isFinalState(f)));
    expect(out.map((r) => [r.actor, r.from, r.to])).toEqual([['replay', ['dead'], ['pending']]]);
  });

  it('gives every actor at least one transition', () => {
    expect(new Set(TRANSITIONS.map((r) => r.actor))).toEqual(new Set(ACTORS));
  });

  it('says who may make each move', () => {
    expect(actorsOf(null, 'pending')).toEqual(['intake']);
    expect(actorsOf('pending', 'queued')).toEqual(['relay']);
    expect(actorsOf('queued', 'running')).toEqual(['claim']);
    // The claim's takeover of a dead worker's row: the fast path of recovery.
    expect(actorsOf('running', 'running')).toEqual(['claim']);
    expect(actorsOf('running', 'pending')).toEqual(['recovery']);
    expect(actorsOf('running', 'queued')).toEqual(['commit']);
    expect(actorsOf('retrying', 'expired')).toEqual(['expiry']);
    expect(actorsOf('queued', 'dead')).toEqual(['refuse']);
    expect(actorsOf('dead', 'pending')).toEqual(['replay']);
    expect(actorsOf('queued', 'cancelled')).toEqual(['cancel']);
  });

  it('refuses moves nobody may make', () => {
    expect(actorsOf('running', 'cancelled')).toEqual([]);
    expect(actorsOf('succeeded', 'pending')).toEqual([]);
    expect(actorsOf('queued', 'expired')).toEqual([]);
    expect(actorsOf(null, 'running')).toEqual([]);
    expect(isAllowed('pending', 'queued', 'claim')).toBe(false);
    for (const o of RUN_OUTCOMES) expect(isAllowed('running', o, 'commit')).toBe(true);
  });

  it('checkTransitions throws naming the first move the actors may not make', () => {
    expect(() => checkTransitions(['pending', 'queued'], 'cancelled', ['cancel'])).not.toThrow();
    expect(() => checkTransitions(['pending', 'running'], 'cancelled', ['cancel', 'replay'])).toThrow(
      'the action lifecycle has no transition running -> cancelled for cancel or replay',
    );
    expect(() => checkTransitions(['nonsense'], 'pending', ['replay'])).toThrow('nonsense -> pending');
  });
});

/** Every move of the table as `actor from -> to` (from `none` for a new row). */
function moves(
  rules: ReadonlyArray<{ actor: string; from: readonly (string | null)[]; to: readonly string[] }>,
): string[] {
  return rules.flatMap((r) => r.from.flatMap((f) => r.to.map((t) => `${r.actor} ${f ?? 'none'} -> ${t}`))).sort();
}

describe('docs/lifecycle.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'lifecycle.md'), 'utf8');
  const list = (cell: string): string[] => cell.split(',').map((x) => x.trim());

  it('lists every transition and actor of the table, and no other', () => {
    const rows = [...doc.matchAll(/^\| (\w+) +\| ([^|]+)\| ([^|]+)\| [^|]+\|$/gm)]
      .filter((m) => (ACTORS as readonly string[]).includes(m[1] as string))
      .map((m) => ({
        actor: m[1] as string,
        from: list(m[2] as string).map((f) => (f === '(none)' ? null : f)),
        to: list(m[3] as string),
      }));
    expect(moves(rows)).toEqual(moves(TRANSITIONS));
  });

  it('draws every transition of the table, and no other', () => {
    const edges = [...doc.matchAll(/^ {4}(\[\*\]|\w+) --> (\w+): (\w+)/gm)].map((m) => ({
      actor: m[3] as string,
      from: [m[1] === '[*]' ? null : (m[1] as string)],
      to: [m[2] as string],
    }));
    expect([...new Set(moves(edges))]).toEqual([...new Set(moves(TRANSITIONS))]);
  });
});

describe('transition()', () => {
  it('runs nothing when asked for a move that is not a cancel or replay', async () => {
    const sent: string[] = [];
    const sql = {
      query: (text: string) => {
        sent.push(text);
        return Promise.resolve({ rows: [], rowCount: 0 });
      },
    } as unknown as Sql;
    await expect(transition(sql, '1', ['running'], 'pending', 'test', 'why')).rejects.toThrow(
      'no transition running -> pending',
    );
    expect(sent).toEqual([]);
    await transition(sql, '1', ['dead'], 'pending', 'test', 'replayed', true);
    expect(sent).toHaveLength(1);
  });
});
