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
