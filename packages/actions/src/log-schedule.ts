import type { Sql, Transactor } from '@cmq/common';
import { insertActions } from './intake';
import type { ActionRequest } from './request';

/** Advisory lock key under which one publisher at a time schedules log collection ("cmqlogs"). */
export const LOG_SCHEDULE_LOCK = 0x636d716c6f6773n;

/** The interval slot `now` falls in: the same for every publisher, so keys agree across failovers. */
export function logSlot(nowMs: number, intervalMs: number): number {
  return Math.floor(nowMs / intervalMs);
}

/** Idempotency key of one guest's collection in one slot. */
export function logCollectKey(guest: string, slot: number): string {
  return `logs:${guest}:${slot}`;
}

/**
 * Inserts one `guest.logs.collect` per active guest (of an enabled tenant) with paths (its own `log_paths`, else
 * `defaultPaths`) for `slot`, under a transaction-scoped advisory lock: when another publisher
 * holds it, does nothing and returns undefined. Keys `logs:<guest>:<slot>` make a repeat of the
 * same slot (a restart, a failover) insert nothing. A guest whose previous collection is not
 * finished yet is left out of this slot: two collections of one guest never run at once (they
 * would race on the offsets), and a stopped subscriber leaves at most one waiting per guest.
 * Returns how many guests were scheduled (or already were, for this slot).
 */
export async function scheduleLogCollection(
  transaction: Transactor,
  slot: number,
  defaultPaths: readonly string[],
  actor: string,
): Promise<number | undefined> {
  return transaction(async (sql: Sql) => {
    const lock = await sql.query<{ got: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS got', [
      LOG_SCHEDULE_LOCK.toString(),
    ]);
    if (lock.rows[0]?.got !== true) return undefined;
    const { rows } = await sql.query<{ tenant_id: string; id: string; paths: string[] }>(
      `SELECT g.tenant_id, g.id, COALESCE(g.log_paths, $1::text[]) AS paths
       FROM guests g JOIN tenants t ON t.id = g.tenant_id
       WHERE t.enabled AND g.active AND cardinality(COALESCE(g.log_paths, $1::text[])) > 0
         AND NOT EXISTS (
           SELECT 1 FROM actions a
           WHERE a.family = 'guest' AND a.tenant_id = g.tenant_id AND a.state IN ('pending', 'queued', 'running', 'retrying')
             AND a.type = 'guest.logs.collect' AND a.args->>'guest' = g.id)
       ORDER BY g.tenant_id, g.id`,
      [defaultPaths],
    );
    const requests: ActionRequest[] = rows.map((g) => ({
      type: 'guest.logs.collect',
      family: 'guest',
      tenant: g.tenant_id,
      args: { guest: g.id, paths: g.paths },
      idempotencyKey: logCollectKey(g.id, slot),
      notBefore: null,
      expiresAt: null,
      priority: 0,
      maxAttempts: 3,
    }));
    // Same transaction: the lock is held until these rows commit.
    await insertActions((fn) => fn(sql), requests, actor);
    return requests.length;
  });
}
