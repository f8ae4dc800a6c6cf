import { waitFor } from './wait';

/**
 * One place for tests to read actions and their events: a row by id, its events, counts and
 * lists by filter, and waits for a state. Each takes anything with pg's `query` (a Pool, a
 * Client), so a test reads through the connection it already has.
 */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** The final states (DESIGN.md invariant 1). */
export const FINAL_STATES = ['succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected'] as const;

/** An `actions` row as pg returns it (bigint ids as text); `R` is what the test knows of its result. */
export interface ActionRow<R = unknown> {
  id: string;
  tenant_id: string;
  type: string;
  family: string;
  args: Record<string, unknown>;
  state: string;
  priority: number;
  attempts: number;
  max_attempts: number;
  throttles: number;
  /** Runs held back by an outage of a dependency, not counted as attempts (migration 015). */
  outages: number;
  idempotency_key: string | null;
  not_before: Date;
  expires_at: Date | null;
  worker_id: string | null;
  worker: string | null;
  result: R;
  error: string | null;
  /** Secret arguments, encrypted (`v1:<key id>:...`), or null (migration 014). */
  secret_args: string | null;
  created_at: Date;
  queued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

/** An `action_events` row. */
export interface ActionEvent {
  id: string;
  action_id: string;
  at: Date;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string | null;
}

/** Which actions: every field given must match. */
export interface ActionFilter {
  ids?: readonly string[];
  state?: string | readonly string[];
  /** Not in these states. */
  notState?: string | readonly string[];
  /** Exact, or a LIKE pattern when it holds `%`. */
  type?: string;
  tenant?: string;
  family?: string;
  /** Exact, or a LIKE pattern when it holds `%`. */
  idempotencyKey?: string;
  /** The arguments contain this (jsonb `@>`): `{ server: 'i-1' }`, `{ paths: ['/x'] }`. */
  args?: Record<string, unknown>;
}

/** Which events: every field given must match. */
export interface EventFilter {
  ids?: readonly string[];
  to?: string | readonly string[];
  /** `null` for an action's first event. */
  from?: string | null;
  /** A LIKE pattern. */
  reason?: string;
  actor?: string;
  /** Written before the event with this id. */
  before?: string;
  /** Events of the actions matching this filter. */
  of?: ActionFilter;
}

const list = (v: string | readonly string[]): string[] => (typeof v === 'string' ? [v] : [...v]);

/** A WHERE clause (`TRUE` when empty) over `actions` aliased `a`, its parameters from `values`. */
function actionWhere(f: ActionFilter, values: unknown[]): string {
  const where: string[] = [];
  const param = (v: unknown): string => `$${values.push(v)}`;
  if (f.ids !== undefined) where.push(`a.id = ANY(${param([...f.ids])}::bigint[])`);
  if (f.state !== undefined) where.push(`a.state = ANY(${param(list(f.state))}::text[])`);
  if (f.notState !== undefined) where.push(`NOT (a.state = ANY(${param(list(f.notState))}::text[]))`);
  if (f.type !== undefined) where.push(`a.type ${f.type.includes('%') ? 'LIKE' : '='} ${param(f.type)}`);
  if (f.tenant !== undefined) where.push(`a.tenant_id = ${param(f.tenant)}`);
  if (f.family !== undefined) where.push(`a.family = ${param(f.family)}`);
  if (f.idempotencyKey !== undefined)
    where.push(`a.idempotency_key ${f.idempotencyKey.includes('%') ? 'LIKE' : '='} ${param(f.idempotencyKey)}`);
  if (f.args !== undefined) where.push(`a.args @> ${param(JSON.stringify(f.args))}::jsonb`);
  return where.length === 0 ? 'TRUE' : where.join(' AND ');
}

function eventWhere(f: EventFilter, values: unknown[]): string {
  const where: string[] = [];
  const param = (v: unknown): string => `$${values.push(v)}`;
  if (f.ids !== undefined) where.push(`e.action_id = ANY(${param([...f.ids])}::bigint[])`);
  if (f.to !== undefined) where.push(`e.to_state = ANY(${param(list(f.to))}::text[])`);
  if (f.from === null) where.push('e.from_state IS NULL');
  else if (f.from !== undefined) where.push(`e.from_state = ${param(f.from)}`);
  if (f.reason !== undefined) where.push(`e.reason LIKE ${param(f.reason)}`);
  if (f.actor !== undefined) where.push(`e.actor = ${param(f.actor)}`);
  if (f.before !== undefined) where.push(`e.id < ${param(f.before)}::bigint`);
  if (f.of !== undefined) where.push(`e.action_id IN (SELECT a.id FROM actions a WHERE ${actionWhere(f.of, values)})`);
  return where.length === 0 ? 'TRUE' : where.join(' AND ');
}

const ACTION_COLUMNS = 'a.*, a.id::text AS id, a.worker_id::text AS worker_id';

/** The action `id`; throws when there is none. */
export async function actionRow<R = unknown>(db: Queryable, id: string): Promise<ActionRow<R>> {
  const { rows } = await db.query<ActionRow<R>>(`SELECT ${ACTION_COLUMNS} FROM actions a WHERE a.id = $1`, [id]);
  const row = rows[0];
  if (row === undefined) throw new Error(`no action ${id}`);
  return row;
}

/** The actions matching `filter`, oldest first. */
export async function listActions<R = unknown>(db: Queryable, filter: ActionFilter = {}): Promise<ActionRow<R>[]> {
  const values: unknown[] = [];
  const { rows } = await db.query<ActionRow<R>>(
    `SELECT ${ACTION_COLUMNS} FROM actions a WHERE ${actionWhere(filter, values)} ORDER BY a.id`,
    values,
  );
  return rows;
}

/** How many actions match `filter`. */
export async function countActions(db: Queryable, filter: ActionFilter = {}): Promise<number> {
  const values: unknown[] = [];
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM actions a WHERE ${actionWhere(filter, values)}`,
    values,
  );
  return rows[0]?.n ?? 0;
}

/** Per state, how many actions matching `filter` are in it (states with none left out). */
export async function stateCounts(db: Queryable, filter: ActionFilter = {}): Promise<Record<string, number>> {
  const values: unknown[] = [];
  const { rows } = await db.query<{ state: string; n: number }>(
    `SELECT a.state, count(*)::int AS n FROM actions a WHERE ${actionWhere(filter, values)} GROUP BY a.state`,
    values,
  );
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

/** The events of action `id`, in the order they were written. */
export async function actionEvents(db: Queryable, id: string): Promise<ActionEvent[]> {
  return listEvents(db, { ids: [id] });
}

/** The states action `id` went through, in order (each event's `to_state`). */
export async function stateHistory(db: Queryable, id: string): Promise<string[]> {
  return (await actionEvents(db, id)).map((e) => e.to_state);
}

/** The events matching `filter`, in the order they were written. */
export async function listEvents(db: Queryable, filter: EventFilter = {}): Promise<ActionEvent[]> {
  const values: unknown[] = [];
  const { rows } = await db.query<ActionEvent>(
    `SELECT e.*, e.id::text AS id, e.action_id::text AS action_id FROM action_events e
     WHERE ${eventWhere(filter, values)} ORDER BY e.id`,
    values,
  );
  return rows;
}

/** The id of the last event written, '0' when there is none: what a later read starts after. */
export async function lastEventId(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM action_events');
  return rows[0]?.id ?? '0';
}

/** How many events match `filter`. */
export async function countEvents(db: Queryable, filter: EventFilter = {}): Promise<number> {
  const values: unknown[] = [];
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM action_events e WHERE ${eventWhere(filter, values)}`,
    values,
  );
  return rows[0]?.n ?? 0;
}

/** Waits until action `id` is in one of `states`; returns its row then. On a timeout, names the state it is in. */
export async function waitForState(
  db: Queryable,
  id: string,
  states: string | readonly string[],
  timeoutMs: number,
): Promise<ActionRow> {
  const wanted = list(states);
  let row: ActionRow | undefined;
  try {
    await waitFor(
      async () => {
        row = await actionRow(db, id);
        return wanted.includes(row.state);
      },
      timeoutMs,
      `action ${id} ${wanted.join(' or ')}`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (it is ${row?.state ?? 'not there'})`, { cause: err });
  }
  return row as ActionRow;
}

/** Waits until action `id` is in a final state; returns its row then. */
export async function waitForFinal(db: Queryable, id: string, timeoutMs: number): Promise<ActionRow> {
  return waitForState(db, id, FINAL_STATES, timeoutMs);
}

/** Waits until `countActions(db, filter)` is at least `n`; returns the count then. */
export async function waitForActions(
  db: Queryable,
  filter: ActionFilter,
  n: number,
  timeoutMs: number,
  what = `${n} actions matching ${JSON.stringify(filter)}`,
): Promise<number> {
  let count = 0;
  await waitFor(
    async () => {
      count = await countActions(db, filter);
      return count >= n;
    },
    timeoutMs,
    what,
  );
  return count;
}

/** Waits until `countEvents(db, filter)` is at least `n`; returns the count then. */
export async function waitForEvents(
  db: Queryable,
  filter: EventFilter,
  n: number,
  timeoutMs: number,
  what = `${n} events matching ${JSON.stringify(filter)}`,
): Promise<number> {
  let count = 0;
  await waitFor(
    async () => {
      count = await countEvents(db, filter);
      return count >= n;
    },
    timeoutMs,
    what,
  );
  return count;
}
