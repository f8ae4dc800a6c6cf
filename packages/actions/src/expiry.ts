import type { Sql } from '@cmq/common';

/**
 * Expiry, in one place. The rule: an action whose `expires_at` passed before it started running
 * ends `expired`; one that started runs to its end. It is applied where an action could start:
 *
 * - the relay's sweep ({@link expireDue}, each relay cycle, before anything is published) ends
 *   the pending and retrying rows that expired, and the relay never publishes an expired row
 *   ({@link NOT_EXPIRED} in its candidate query);
 * - the claim: a row published before it expired but claimed after it ends `expired` instead of
 *   running ({@link expiryError}, the subscriber's gate), committed as the run's outcome.
 */

/** SQL condition on `expires_at`: the row has not expired (for the relay's candidates). */
export const NOT_EXPIRED = '(expires_at IS NULL OR expires_at > now())';

/** Why a claimed action may not run because it expired, or undefined when it has not. */
export function expiryError(expiresAt: Date | string | null, now: Date = new Date()): string | undefined {
  if (expiresAt === null) return undefined;
  const at = new Date(expiresAt);
  return at <= now ? `expired at ${at.toISOString()} before it could run` : undefined;
}

const EXPIRE = `
WITH old AS (
  SELECT id, state FROM actions
  WHERE state IN ('pending', 'retrying') AND expires_at <= now()
  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
), gone AS (
  -- transition expiry: pending|retrying -> expired
  UPDATE actions a SET state = 'expired', finished_at = now(), updated_at = now(),
    error = 'expired at ' || to_char(a.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' before it could run'
  FROM old WHERE a.id = old.id
  RETURNING a.id, old.state AS from_state
), ev AS (
  INSERT INTO action_events (action_id, from_state, to_state, actor, reason)
  SELECT id, from_state, 'expired', $2, 'expires_at passed before it could run' FROM gone
)
SELECT count(*)::int AS n FROM gone`;

/** Ends `expired` every due action whose `expires_at` has passed (at most `limit`). */
export async function expireDue(sql: Sql, actor: string, limit = 1000): Promise<number> {
  const { rows } = await sql.query<{ n: number }>({ name: 'cmq_relay_expire', text: EXPIRE, values: [limit, actor] });
  return rows[0]?.n ?? 0;
}
