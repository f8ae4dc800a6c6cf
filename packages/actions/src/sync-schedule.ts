import type { Sql, Transactor } from '@cmq/common';
import { CLOUD_PROVIDERS } from './accounts';
import { insertActions } from './intake';
import type { ActionRequest } from './request';
import { SYNC_KINDS, type SyncKind } from './sync-definitions';

/** The sync_lease row the publishers' sync schedulers compete for. */
export const SYNC_LEASE = 'sync';

/** Milliseconds between runs of each kind for every account (publisher.properties sync.interval.*). */
export type SyncIntervals = Record<SyncKind, number>;

export interface SyncScheduleOptions {
  intervals: SyncIntervals;
  /** Fraction of the interval each run moves by at random, either way (0.1: ±10 %). */
  jitter: number;
  /** Who inserts the actions (action_events.actor) and holds the lease. */
  actor: string;
  /** Most runs emitted per transaction. */
  batch: number;
  random?: () => number;
}

/** Idempotency key of the run of `kind` for `account` due at `at`: the same for every publisher. */
export function syncRunKey(account: string, kind: SyncKind, at: Date): string {
  return `sync:${account}:${kind}:${at.toISOString()}`;
}

/**
 * Takes the lease when it is free or expired, or renews it when `holder` has it (PostgreSQL's
 * clock decides, so hosts' clocks need not agree). Resolves true while `holder` holds it.
 * `lease` names another row of sync_lease (HISTORY_LEASE: the history keeper's).
 */
export async function acquireSyncLease(
  sql: Sql,
  holder: string,
  ttlMs: number,
  lease: string = SYNC_LEASE,
): Promise<boolean> {
  const { rowCount } = await sql.query(
    `INSERT INTO sync_lease (name, holder, acquired_at, expires_at) VALUES ($1, $2, now(), now() + $3 * interval '1 millisecond')
     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
       acquired_at = CASE WHEN sync_lease.holder = EXCLUDED.holder THEN sync_lease.acquired_at ELSE now() END
     WHERE sync_lease.holder = EXCLUDED.holder OR sync_lease.expires_at < now()`,
    [lease, holder, ttlMs],
  );
  return rowCount === 1;
}

/** Gives the lease up (a clean stop) so that a standby takes over at its next look. */
export async function releaseSyncLease(sql: Sql, holder: string, lease: string = SYNC_LEASE): Promise<void> {
  await sql.query('DELETE FROM sync_lease WHERE name = $1 AND holder = $2', [lease, holder]);
}

/** `interval` moved by up to ±jitter of itself, whole milliseconds. */
function jittered(intervalMs: number, jitter: number, random: () => number): number {
  return Math.max(1, Math.round(intervalMs * (1 + jitter * (2 * random() - 1))));
}

/**
 * Pulls in runs planned further ahead than their (possibly shortened) interval allows, so a
 * smaller sync.interval.* takes effect at once instead of after the old interval.
 */
export async function clampSchedule(sql: Sql, opts: SyncScheduleOptions): Promise<void> {
  await sql.query(
    `UPDATE sync_schedule s SET next_run_at = date_trunc('milliseconds', now() + i.ms * interval '1 millisecond')
     FROM unnest($1::text[], $2::float8[]) AS i(kind, ms)
     WHERE s.kind = i.kind AND s.next_run_at > now() + i.ms * (1 + $3::float8) * interval '1 millisecond'`,
    [[...SYNC_KINDS], SYNC_KINDS.map((k) => opts.intervals[k]), opts.jitter],
  );
}

interface DueRun {
  account_id: string;
  tenant_id: string;
  kind: SyncKind;
  next_run_at: Date;
  now: Date;
}

/**
 * One scheduling transaction. Only while `actor` holds the lease (checked and kept under a row
 * lock inside this transaction, so a publisher that lost it meanwhile emits nothing):
 *
 * 1. gives every enabled cloud account (local, ec2) of an enabled tenant a sync_schedule row per kind it lacks,
 *    first run within one jitter fraction of the interval from now (soon, and spread out);
 * 2. for each due row (locked, `SKIP LOCKED`), inserts `sync.<kind>` with the idempotency key
 *    `sync:<account>:<kind>:<next_run_at ISO>` and not_before = next_run_at, and advances
 *    next_run_at by one interval (± jitter) from the previous next_run_at — in the same
 *    transaction, so a failover at any point neither skips nor doubles a run (the key makes a
 *    repeat insert nothing anyway).
 *
 * Catch-up: when the scheduler was down for several intervals, the overdue run is emitted once
 * and the next one is planned one interval from now, not from the old time: at most one missed
 * run is caught up, never a burst of them.
 *
 * Returns how many runs it emitted, or undefined when `actor` does not hold the lease.
 */
export async function emitDueSyncs(transaction: Transactor, opts: SyncScheduleOptions): Promise<number | undefined> {
  const random = opts.random ?? Math.random;
  return transaction(async (sql) => {
    const lease = await sql.query(
      'SELECT 1 FROM sync_lease WHERE name = $1 AND holder = $2 AND expires_at > now() FOR SHARE',
      [SYNC_LEASE, opts.actor],
    );
    if (lease.rowCount !== 1) return undefined;
    const kinds = [...SYNC_KINDS];
    await sql.query(
      `INSERT INTO sync_schedule (account_id, kind, next_run_at)
       SELECT a.id, k.kind, date_trunc('milliseconds', now() + random() * $3::float8 * k.ms * interval '1 millisecond')
       FROM accounts a JOIN tenants t ON t.id = a.tenant_id CROSS JOIN unnest($1::text[], $2::float8[]) AS k(kind, ms)
       WHERE a.enabled AND t.enabled AND a.provider = ANY($4::text[])
       ON CONFLICT DO NOTHING`,
      [kinds, kinds.map((k) => opts.intervals[k]), opts.jitter, [...CLOUD_PROVIDERS]],
    );
    const { rows } = await sql.query<DueRun>(
      `SELECT s.account_id::text, a.tenant_id, s.kind, s.next_run_at, now() AS now
       FROM sync_schedule s JOIN accounts a ON a.id = s.account_id JOIN tenants t ON t.id = a.tenant_id
       WHERE s.next_run_at <= now() AND a.enabled AND t.enabled AND s.kind = ANY($2::text[])
       ORDER BY s.next_run_at LIMIT $1
       FOR UPDATE OF s SKIP LOCKED`,
      [opts.batch, kinds],
    );
    if (rows.length === 0) return 0;
    const requests: ActionRequest[] = rows.map((r) => ({
      type: `sync.${r.kind}`,
      family: 'monitor',
      tenant: r.tenant_id,
      args: { account: r.account_id },
      idempotencyKey: syncRunKey(r.account_id, r.kind, r.next_run_at),
      notBefore: r.next_run_at,
      // A run not started within two intervals of its emission (subscribers down) is superseded
      // by later ones: it expires instead of piling up. Counted from now, not from next_run_at:
      // the catch-up run after a long scheduler outage must not be born expired.
      expiresAt: new Date(r.now.getTime() + Math.max(2 * opts.intervals[r.kind], 60_000)),
      priority: 0,
      maxAttempts: 3,
    }));
    const ids = await insertActions((fn) => fn(sql), requests, opts.actor);
    const next = rows.map((r) => {
      const step = jittered(opts.intervals[r.kind], opts.jitter, random);
      const planned = r.next_run_at.getTime() + step;
      // Catch up at most one missed run: the one just emitted.
      return new Date(planned > r.now.getTime() ? planned : r.now.getTime() + step);
    });
    await sql.query(
      `UPDATE sync_schedule s SET next_run_at = u.next, last_run_at = u.last, last_action_id = u.action
       FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[]) AS u(account, kind, next, last, action)
       WHERE s.account_id = u.account AND s.kind = u.kind`,
      [rows.map((r) => r.account_id), rows.map((r) => r.kind), next, rows.map((r) => r.next_run_at), ids],
    );
    return rows.length;
  });
}
