import type { Sql } from '@cmq/common';
import { checkTransitions } from './lifecycle';

export interface ActionRow {
  id: string;
  tenant_id: string;
  type: string;
  family: string;
  args: unknown;
  state: string;
  priority: number;
  attempts: number;
  /** Throttled runs given back, not counted in attempts (retry.max_throttled). */
  throttles: number;
  /** Runs held back by an outage of Redis or PostgreSQL, not counted in attempts (retry.max_outages). */
  outages: number;
  max_attempts: number;
  idempotency_key: string | null;
  not_before: Date;
  expires_at: Date | null;
  worker: string | null;
  result: unknown;
  error: string | null;
  created_at: Date;
  queued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface ActionEvent {
  at: Date;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string | null;
}

const COLUMNS = `id::text, tenant_id, type, family, args, state, priority, attempts, throttles, outages, max_attempts, idempotency_key,
  not_before, expires_at, worker, result, error, created_at, queued_at, started_at, finished_at`;

export async function getAction(sql: Sql, id: string): Promise<ActionRow | undefined> {
  const { rows } = await sql.query<ActionRow>(`SELECT ${COLUMNS} FROM actions WHERE id = $1`, [id]);
  return rows[0];
}

export async function actionEvents(sql: Sql, id: string): Promise<ActionEvent[]> {
  const { rows } = await sql.query<ActionEvent>(
    'SELECT at, from_state, to_state, actor, reason FROM action_events WHERE action_id = $1 ORDER BY id',
    [id],
  );
  return rows;
}

export interface ActionFilter {
  tenant?: string;
  state?: string;
  type?: string;
  family?: string;
  /** Worker name (`subscriber:a@host:pid` or a part of it: prefix match). */
  worker?: string;
  /** Created at or after / before. */
  since?: Date;
  until?: Date;
  /** Free text, case-insensitive, searched in the arguments, the result and the error. */
  text?: string;
  /** Keyset: only actions with a smaller id (the last id of the previous page). */
  before?: string;
  limit: number;
}

/** The WHERE clause of a filter and its parameters (the same for the list and its count). */
function filterSql(f: Omit<ActionFilter, 'limit'>): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  const conds: string[] = [];
  const add = (cond: (p: string) => string, value: unknown): void => {
    params.push(value);
    conds.push(cond(`$${params.length}`));
  };
  if (f.tenant !== undefined) add((p) => `tenant_id = ${p}`, f.tenant);
  if (f.state !== undefined) add((p) => `state = ${p}`, f.state);
  if (f.type !== undefined) add((p) => `type = ${p}`, f.type);
  if (f.family !== undefined) add((p) => `family = ${p}`, f.family);
  if (f.worker !== undefined) add((p) => `starts_with(worker, ${p})`, f.worker);
  if (f.since !== undefined) add((p) => `created_at >= ${p}`, f.since);
  if (f.until !== undefined) add((p) => `created_at < ${p}`, f.until);
  if (f.text !== undefined)
    add(
      (p) => `(args::text ILIKE ${p} OR result::text ILIKE ${p} OR error ILIKE ${p})`,
      `%${f.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`,
    );
  if (f.before !== undefined) add((p) => `id < ${p}::bigint`, f.before);
  return { where: conds.length === 0 ? 'true' : conds.join(' AND '), params };
}

/** Actions newest first (by id), one keyset page: pass the last id seen as `before` for the next. */
export async function listActions(sql: Sql, f: ActionFilter): Promise<ActionRow[]> {
  const { where, params } = filterSql(f);
  const { rows } = await sql.query<ActionRow>(
    `SELECT ${COLUMNS} FROM actions WHERE ${where} ORDER BY actions.id DESC LIMIT $${params.length + 1}`,
    [...params, f.limit],
  );
  return rows;
}

/**
 * How many actions the filter selects, counting at most `cap` (default: all) so that a count
 * over millions of rows stays fast: a result equal to `cap` means "at least `cap`".
 */
export async function countActions(sql: Sql, f: Omit<ActionFilter, 'limit'>, cap?: number): Promise<number> {
  const { where, params } = filterSql(f);
  const inner = cap === undefined ? '' : ` LIMIT $${params.length + 1}`;
  const { rows } = await sql.query<{ n: string }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM actions WHERE ${where}${inner}) c`,
    cap === undefined ? params : [...params, cap],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Moves an action to `to` from one of `from`, with an event: an operator's (or the pinger's)
 * cancel or replay. Returns the state it was in, or undefined when it does not exist; when it was
 * not in `from`, nothing changes.
 * @throws Error when a move from `from` to `to` is not a cancel or replay of the lifecycle.
 */
export async function transition(
  sql: Sql,
  id: string,
  from: readonly string[],
  to: string,
  actor: string,
  reason: string,
  reset = false,
): Promise<{ before: string | undefined; changed: boolean }> {
  checkTransitions(from, to, ['cancel', 'replay']);
  const { rows } = await sql.query<{ before: string; changed: boolean }>(
    `WITH old AS (SELECT id, state FROM actions WHERE id = $1 FOR UPDATE),
     upd AS (
       -- transition cancel: pending|queued|retrying -> cancelled
       -- transition replay: dead -> pending
       UPDATE actions a SET state = $3, updated_at = now(),
         finished_at = CASE WHEN $3 IN ('pending') THEN NULL ELSE now() END,
         attempts = CASE WHEN $6 THEN 0 ELSE a.attempts END, throttles = CASE WHEN $6 THEN 0 ELSE a.throttles END, outages = CASE WHEN $6 THEN 0 ELSE a.outages END, not_before = CASE WHEN $6 THEN now() ELSE a.not_before END,
         error = CASE WHEN $6 THEN NULL ELSE a.error END, worker_id = NULL
       FROM old WHERE a.id = old.id AND old.state = ANY($2::text[]) RETURNING a.id),
     ev AS (INSERT INTO action_events (action_id, from_state, to_state, actor, reason) SELECT upd.id, old.state, $3, $4, $5 FROM upd, old)
     SELECT old.state AS before, EXISTS (SELECT 1 FROM upd) AS changed,
       CASE WHEN $3 = 'pending' THEN pg_notify('cmq_relay', 'replay') END AS wake FROM old`,
    [id, from, to, actor, reason, reset],
  );
  const row = rows[0];
  return { before: row?.before, changed: row?.changed ?? false };
}
