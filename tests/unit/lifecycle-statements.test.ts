import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ACTORS, type Actor, REMOVABLE_STATES, isActionState, isAllowed } from '@cmq/actions';
import type { ActionState } from '@cmq/common';

/**
 * Every SQL statement in the code that changes `actions.state` (an `UPDATE actions`) or creates
 * an action (`INSERT INTO actions`) declares its transitions in `-- transition <actor>: <from> ->
 * <to>` comments just above it. This test finds them all in the sources, checks each declared
 * move against the lifecycle table, and checks the declaration against what the SQL says: the
 * state the UPDATE sets when it is a literal, the state literals of its WHERE (or of the CTE it
 * updates from), and the to-states of the action_events rows the statement writes.
 */

const ROOT = join(__dirname, '..', '..');
const SOURCE_DIRS = ['packages', 'services'];

interface Declared {
  actor: Actor;
  from: Array<ActionState | null>;
  to: ActionState[];
}

interface Found {
  where: string;
  kind: 'update' | 'insert';
  sql: string;
  declared: Declared[];
  problems: string[];
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (path.endsWith('.ts') && !path.endsWith('.d.ts') && path.includes(`${sep}src${sep}`)) out.push(path);
  }
  return out;
}

/** The template literal around `pos` (SQL statements are written as template literals). */
function literalAround(text: string, pos: number): string {
  return text.slice(text.lastIndexOf('`', pos) + 1, text.indexOf('`', pos));
}

/** The state literals named by `state = '...'` and `state IN ('...', ...)` in `text`. */
function stateLiterals(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/(?<![\w.])(?:[a-z]+\.)?state\s*(?:=\s*'(\w+)'|IN\s*\(([^)]*)\))/gi)) {
    if (m[1] !== undefined) out.add(m[1]);
    for (const q of (m[2] ?? '').matchAll(/'(\w+)'/g)) out.add(q[1] as string);
  }
  return out;
}

/** The body of CTE `name` (`name AS [MATERIALIZED] ( ... )`), parentheses matched. */
function cteBody(sql: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}\\s+AS\\s+(?:MATERIALIZED\\s+)?\\(`, 'i').exec(sql);
  if (m === null) return undefined;
  let depth = 1;
  const start = m.index + m[0].length;
  for (let i = start; i < sql.length; i += 1) {
    if (sql[i] === '(') depth += 1;
    if (sql[i] === ')' && --depth === 0) return sql.slice(start, i);
  }
  return undefined;
}

/** The `-- transition` comments on the lines just above `pos` (nearest last). */
function declarationsAbove(sql: string, pos: number, problems: string[]): Declared[] {
  const lines = sql.slice(0, pos).split('\n');
  lines.pop(); // the line holding the statement itself
  const out: Declared[] = [];
  for (let line = lines.pop(); line !== undefined; line = lines.pop()) {
    const m = /^\s*-- transition (\w+): ([\w|]+) -> ([\w|]+)\s*$/.exec(line);
    if (m === null) break;
    const [, actor, from, to] = m as unknown as [string, string, string, string];
    const states = (list: string): Array<ActionState | null> =>
      list.split('|').flatMap((s) => {
        if (s === 'none') return [null];
        if (isActionState(s)) return [s];
        problems.push(`"${s}" is not an action state`);
        return [];
      });
    if (!(ACTORS as readonly string[]).includes(actor)) problems.push(`"${actor}" is not a lifecycle actor`);
    out.push({ actor: actor as Actor, from: states(from), to: states(to).filter((s) => s !== null) });
  }
  return out;
}

const sameSet = (a: Iterable<unknown>, b: Iterable<unknown>): boolean => {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
};

/** What the UPDATE starting at `pos` says of its own from- and to-states. */
function checkUpdate(sql: string, pos: number, declared: Declared[], problems: string[]): void {
  const rest = sql.slice(pos);
  const end = rest.search(/\bRETURNING\b/i);
  const update = end < 0 ? rest : rest.slice(0, end);
  const set = /\bSET\s+state\s*=\s*(?:'(\w+)'|[\w.$]+)/i.exec(update);
  if (set === null) problems.push('no `SET state = ...` found');
  const declaredTo = declared.flatMap((d) => d.to);
  if (set?.[1] !== undefined && !sameSet([set[1]], declaredTo))
    problems.push(`sets state '${set[1]}' but declares -> ${declaredTo.join('|')}`);
  const whereAt = update.search(/\bWHERE\b/i);
  const where = whereAt < 0 ? '' : update.slice(whereAt);
  const source = /\bFROM\s+(\w+)/i.exec(update.slice(0, whereAt < 0 ? undefined : whereAt))?.[1];
  const froms = new Set([...stateLiterals(where), ...stateLiterals((source && cteBody(sql, source)) ?? '')]);
  const declaredFrom = declared.flatMap((d) => d.from);
  if (froms.size > 0 && !sameSet(froms, declaredFrom))
    problems.push(`updates rows in ${[...froms].join('|')} but declares ${declaredFrom.join('|')} ->`);
}

/** Every state change the statement's action_events rows record must be a to-state it declares. */
function checkEvents(sql: string, problems: string[]): void {
  const to = new Set(
    [...sql.matchAll(/-- transition \w+: [\w|]+ -> ([\w|]+)/g)].flatMap((m) => (m[1] as string).split('|')),
  );
  for (const m of sql.matchAll(/INSERT INTO action_events[^]*?SELECT\s+[\w.:]+,\s*(?:NULL|'\w+'|[\w.]+),\s*'(\w+)'/gi))
    if (!to.has(m[1] as ActionState)) problems.push(`writes an event -> ${m[1]} it does not declare`);
}

/** Finds and checks every statement in `text` that makes an action transition. */
function statementsIn(text: string, where: string): Found[] {
  const found: Found[] = [];
  for (const m of text.matchAll(/\b(UPDATE actions|INSERT INTO actions)\b/g)) {
    const line = text.slice(text.lastIndexOf('\n', m.index) + 1, m.index).trim();
    if (line.startsWith('*') || line.startsWith('/') || line.startsWith('//')) continue; // prose, not SQL
    const sql = literalAround(text, m.index);
    const at = m.index - (text.lastIndexOf('`', m.index) + 1);
    const problems: string[] = [];
    const kind = m[1] === 'UPDATE actions' ? 'update' : 'insert';
    const declared =
      kind === 'update'
        ? declarationsAbove(sql, at, problems)
        : declarationsAbove(sql, sql.search(/INSERT INTO action_events/), problems);
    if (declared.length === 0) problems.push('no `-- transition <actor>: <from> -> <to>` comment above it');
    for (const d of declared)
      for (const f of d.from)
        for (const t of d.to)
          if (!isAllowed(f, t, d.actor))
            problems.push(`${d.actor} may not move ${f ?? 'none'} -> ${t} (packages/actions/src/lifecycle.ts)`);
    if (kind === 'update') checkUpdate(sql, at, declared, problems);
    checkEvents(sql, problems);
    found.push({ where, kind, sql, declared, problems });
  }
  return found;
}

const SOURCES = SOURCE_DIRS.flatMap((d) => sourceFiles(join(ROOT, d))).map((path) => ({
  where: relative(ROOT, path),
  text: readFileSync(path, 'utf8'),
}));
const ALL = SOURCES.flatMap(({ where, text }) => statementsIn(text, where));

/** Statements that write action_events without changing an action: an event no transition made. */
function strayEvents(text: string): string[] {
  return [...text.matchAll(/INSERT INTO action_events/g)]
    .map((m) => literalAround(text, m.index))
    .filter((sql) => !/\b(UPDATE actions|INSERT INTO actions)\b/.test(sql));
}

describe('every statement that moves an action between states', () => {
  it('is found: the intake, relay, claim, commit, refuse, recovery, expiry, cancel and replay statements', () => {
    expect(ALL.filter((s) => s.kind === 'update').length).toBeGreaterThanOrEqual(10);
    expect(new Set(ALL.flatMap((s) => s.declared.map((d) => d.actor)))).toEqual(new Set(ACTORS));
  });

  it('are the only statements that write action_events', () => {
    expect(SOURCES.flatMap(({ where, text }) => strayEvents(text).map(() => where))).toEqual([]);
    expect(strayEvents("`INSERT INTO action_events (action_id, to_state) VALUES ($1, 'dead')`")).toHaveLength(1);
  });

  it.each(ALL.map((s, i) => [`${s.where} #${i}`, s] as const))('%s makes only transitions of the lifecycle', (_, s) => {
    expect(s.problems).toEqual([]);
  });
});

/** Problems of each `DELETE FROM actions` in `text`: it must name final states only, and some. */
function deletesIn(text: string, where: string): Array<{ where: string; problems: string[] }> {
  const prose = (i: number): boolean => /^\s*(\*|\/)/.test(text.slice(text.lastIndexOf('\n', i) + 1, i));
  return [...text.matchAll(/\bDELETE FROM actions\b/g)]
    .filter((m) => !prose(m.index))
    .map((m) => {
      const sql = literalAround(text, m.index);
      const at = sql.search(/\bDELETE FROM actions\b/);
      const rest = sql.slice(at);
      const end = rest.search(/\bRETURNING\b/i);
      const states = stateLiterals(end < 0 ? rest : rest.slice(0, end));
      const problems: string[] = [];
      if (states.size === 0) problems.push('names no state: retention removes final actions only');
      for (const s of states)
        if (!(REMOVABLE_STATES as readonly string[]).includes(s)) problems.push(`removes actions in state ${s}`);
      return { where, problems };
    });
}

const DELETES = SOURCES.flatMap(({ where, text }) => deletesIn(text, where));

describe('every statement that removes actions', () => {
  it('is found: the retention batch', () => {
    expect(DELETES.map((d) => d.where)).toContain(join('packages', 'actions', 'src', 'history-prune.ts'));
  });

  it.each(DELETES.map((d, i) => [`${d.where} #${i}`, d] as const))('%s removes final actions only', (_, d) => {
    expect(d.problems).toEqual([]);
  });

  it('refuses a DELETE naming a state that is not final, or none', () => {
    expect(deletesIn("`DELETE FROM actions WHERE state IN ('succeeded', 'running')`", 'x')[0]?.problems).toEqual([
      'removes actions in state running',
    ]);
    expect(deletesIn('`DELETE FROM actions WHERE id = $1`', 'x')[0]?.problems).toEqual([
      'names no state: retention removes final actions only',
    ]);
  });
});

describe('the statement checker', () => {
  const lit = (sql: string): string => `\`${sql}\``;

  it('refuses a transition the lifecycle does not have', () => {
    const [s] = statementsIn(
      lit(`-- transition claim: succeeded -> running
UPDATE actions SET state = 'running' WHERE state = 'succeeded'`),
      'x',
    );
    expect(s?.problems).toEqual(['claim may not move succeeded -> running (packages/actions/src/lifecycle.ts)']);
  });

  it('refuses an UPDATE without a declaration', () => {
    const [s] = statementsIn(lit(`UPDATE actions SET state = 'pending' WHERE state = 'running'`), 'x');
    expect(s?.problems).toContain('no `-- transition <actor>: <from> -> <to>` comment above it');
  });

  it('refuses a declaration that the SQL contradicts (to, from, events)', () => {
    const [s] = statementsIn(
      lit(`WITH old AS (SELECT id FROM actions WHERE state IN ('dead', 'failed') FOR UPDATE),
upd AS (
  -- transition replay: dead -> pending
  UPDATE actions a SET state = 'queued' FROM old WHERE a.id = old.id RETURNING a.id)
INSERT INTO action_events (action_id, from_state, to_state, actor) SELECT id, 'dead', 'cancelled', $1 FROM upd`),
      'x',
    );
    expect(s?.problems).toEqual([
      "sets state 'queued' but declares -> pending",
      'updates rows in dead|failed but declares dead ->',
      'writes an event -> cancelled it does not declare',
    ]);
  });
});
