import type { Sql } from '@cmq/common';
import { getDeadLetter, markDeadLetterReplayed } from './dead-letters';
import { transition } from './queries';
import { maskedSecretArg } from './secret-args';

/** States an action can be cancelled from: it has not started running. */
export const CANCELLABLE: readonly string[] = ['pending', 'queued', 'retrying'];

const FINAL = new Set(['succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected']);

/** Why action `id`, now in `state`, cannot be cancelled. */
export function cancelRefusal(id: string, state: string): string {
  if (state === 'running')
    return `action ${id} is running: it cannot be cancelled (it ends on its own; its handler has a timeout)`;
  if (FINAL.has(state))
    return `action ${id} is already ${state}: only pending, queued or retrying actions can be cancelled`;
  return `action ${id} is ${state}: only pending, queued or retrying actions can be cancelled`;
}

/** What an act on one action did: the state it left, or why nothing changed. */
export type ActResult = { ok: true; before: string } | { ok: false; missing: boolean; error: string };

/** pending, queued or retrying → cancelled, as `actor` (`cmq cancel`, the console's Cancel). */
export async function cancelAction(sql: Sql, id: string, actor: string): Promise<ActResult> {
  const { before, changed } = await transition(sql, id, CANCELLABLE, 'cancelled', actor, 'cancelled by an operator');
  if (before === undefined) return { ok: false, missing: true, error: `no action with id ${id}` };
  if (!changed) return { ok: false, missing: false, error: cancelRefusal(id, before) };
  return { ok: true, before };
}

/** dead → pending with fresh attempts, as `actor` (`cmq dead replay ID`, the console's Replay). */
export async function replayDead(sql: Sql, id: string, actor: string): Promise<ActResult> {
  const { before, changed } = await transition(sql, id, ['dead'], 'pending', actor, 'replayed by an operator', true);
  if (before === undefined) return { ok: false, missing: true, error: `no action with id ${id}` };
  if (!changed)
    return { ok: false, missing: false, error: `action ${id} is ${before}, not dead: only dead actions are replayed` };
  return { ok: true, before };
}

/** Which dead actions a bulk replay takes: every field optional (none: every dead action). */
export interface DeadFilter {
  tenant?: string;
  type?: string;
  /** Text the action's error contains (the reason the dead view groups by). */
  reason?: string;
  /** Died at or after this time. */
  since?: Date;
  /** Died before this time. */
  until?: Date;
}

const DEAD_WHERE = `state = 'dead' AND ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR type = $2)
  AND ($3::text IS NULL OR strpos(COALESCE(error, ''), $3) > 0)
  AND ($4::timestamptz IS NULL OR finished_at >= $4) AND ($5::timestamptz IS NULL OR finished_at < $5)`;

function deadParams(f: DeadFilter): unknown[] {
  return [f.tenant ?? null, f.type ?? null, f.reason ?? null, f.since ?? null, f.until ?? null];
}

/** How many dead actions `filter` selects (what a bulk replay would replay, shown before it does). */
export async function countDeadMatching(sql: Sql, filter: DeadFilter): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM actions WHERE ${DEAD_WHERE}`,
    deadParams(filter),
  );
  return rows[0]?.n ?? 0;
}

/** Puts every dead action `filter` selects back to pending with fresh attempts, as `actor`; returns how many. */
export async function replayDeadMatching(sql: Sql, filter: DeadFilter, actor: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `WITH old AS (SELECT id FROM actions WHERE ${DEAD_WHERE} FOR UPDATE),
     -- transition replay: dead -> pending
     upd AS (UPDATE actions a SET state = 'pending', attempts = 0, throttles = 0, outages = 0, not_before = now(), error = NULL, finished_at = NULL, worker_id = NULL, updated_at = now()
             FROM old WHERE a.id = old.id AND a.state = 'dead' RETURNING a.id),
     ev AS (INSERT INTO action_events (action_id, from_state, to_state, actor, reason) SELECT id, 'dead', 'pending', $6, 'replayed by an operator' FROM upd)
     SELECT count(*)::int AS n, pg_notify('cmq_relay', 'replay') AS wake FROM upd`,
    [...deadParams(filter), actor],
  );
  return rows[0]?.n ?? 0;
}

/** Puts every dead action (of a tenant) back to pending with fresh attempts; returns how many. */
export async function replayAllDead(sql: Sql, tenant: string | undefined, actor: string): Promise<number> {
  return replayDeadMatching(sql, { tenant }, actor);
}

/** Publishes a dead message's body again (exchange cmq.actions); the caller owns the broker connection. */
export type RepublishFn = (
  routingKey: string,
  body: Buffer,
  options: { messageId: string; headers: Record<string, string> },
) => Promise<void>;

/**
 * Publishes dead message `id` again with its original routing key, then marks it replayed, as
 * `cmq dead replay m45` and the console do. Refused when it is missing, already replayed,
 * truncated, or had a secret masked. The message id makes the replay idempotent at intake.
 */
export async function replayDeadMessage(
  sql: Sql,
  id: string,
  republish: RepublishFn,
): Promise<{ ok: true; routingKey: string } | { ok: false; missing: boolean; error: string }> {
  const d = await getDeadLetter(sql, id);
  if (d === undefined) return { ok: false, missing: true, error: `no dead message m${id}` };
  const no = (error: string): { ok: false; missing: false; error: string } => ({ ok: false, missing: false, error });
  if (d.replayed_at !== null)
    return no(`dead message m${id} was already replayed at ${d.replayed_at.toISOString().replace('.000Z', 'Z')}`);
  if (d.body.length < d.body_bytes)
    return no(
      `dead message m${id} cannot be replayed: only the first ${d.body.length} of its ${d.body_bytes} bytes were kept`,
    );
  const masked = maskedSecretArg(d.body);
  if (masked !== undefined)
    return no(
      `dead message m${id} cannot be replayed: its secret ${masked} was masked when it was dead-lettered (secrets are never kept in clear); publish the request again from its source`,
    );
  await republish(d.routing_key, d.body, {
    messageId: `dead-letter-m${id}`,
    headers: { 'x-cmq-replay-of': `m${id}` },
  });
  await markDeadLetterReplayed(sql, id);
  return { ok: true, routingKey: d.routing_key };
}
