import type { Sql, Transactor } from '@cmq/common';

/** One partition of action_events. */
export interface EventPartition {
  name: string;
  /** Its range (null: MINVALUE for the legacy partition; both null for the default one). */
  from: Date | null;
  to: Date | null;
  isDefault: boolean;
}

/** The partitions of action_events, oldest first (the default partition last). */
export async function eventPartitions(sql: Sql): Promise<EventPartition[]> {
  const { rows } = await sql.query<{ name: string; bound: string }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'action_events'::regclass`,
  );
  const parsed = rows.map((r) => {
    if (r.bound === 'DEFAULT') return { name: r.name, from: null, to: null, isDefault: true };
    const [from, to] = [...r.bound.matchAll(/\((MINVALUE|'[^']*')\)/g)].map((m) =>
      m[1] === 'MINVALUE' ? null : new Date((m[1] as string).slice(1, -1)),
    );
    return { name: r.name, from: from ?? null, to: to ?? null, isDefault: false };
  });
  const key = (p: EventPartition): number => (p.isDefault ? Infinity : (p.from?.getTime() ?? -Infinity));
  return parsed.sort((a, b) => key(a) - key(b));
}

/**
 * Creates the day partitions of today (UTC) and of the next `aheadDays` days that do not exist
 * yet (cmq_action_events_partition, migration 017). Returns how many it created. `today`
 * (PostgreSQL's clock when omitted) lets a test cross a month boundary.
 */
export async function createPartitionsAhead(sql: Sql, aheadDays: number, today?: Date): Promise<number> {
  const { rows } = await sql.query<{ created: boolean }>(
    `SELECT cmq_action_events_partition((date_trunc('day', coalesce($2::timestamptz, now()), 'UTC') + d * interval '1 day')::date) AS created
     FROM generate_series(0, $1::int) AS d`,
    [aheadDays, today ?? null],
  );
  return rows.filter((r) => r.created).length;
}

/**
 * The partitions that hold no event of an existing action and whose range has entirely passed
 * (their actions were all pruned, with their events, by retention): dropping one frees its
 * disk at once, with no dead rows left for vacuum. `at`: the time to judge by (PostgreSQL's clock
 * when omitted).
 */
export async function droppablePartitions(sql: Sql, at?: Date): Promise<EventPartition[]> {
  const out: EventPartition[] = [];
  const { rows } = await sql.query<{ now: Date }>('SELECT coalesce($1::timestamptz, now()) AS now', [at ?? null]);
  const now = (rows[0] as { now: Date }).now;
  for (const p of await eventPartitions(sql)) {
    if (p.isDefault || p.to === null || p.to > now) continue;
    const live = await sql.query(
      `SELECT 1 FROM "${p.name}" e WHERE EXISTS (SELECT 1 FROM actions a WHERE a.id = e.action_id) LIMIT 1`,
    );
    if (live.rowCount === 0) out.push(p);
  }
  return out;
}

/**
 * Drops each partition of `droppablePartitions`, each in its own short transaction (no check
 * again: no event is ever written into a day that has passed, and a pruned action never
 * returns). Dropping a partition locks action_events for a moment: the wait for that lock is
 * bounded by `lockTimeoutMs` (a busy moment: the partition is dropped at the next pass).
 * Returns the names dropped.
 */
export async function dropExpiredPartitions(
  transaction: Transactor,
  opts: { lockTimeoutMs?: number; at?: Date } = {},
): Promise<string[]> {
  const lockTimeoutMs = opts.lockTimeoutMs ?? 1_000;
  const dropped: string[] = [];
  for (const p of await transaction((sql) => droppablePartitions(sql, opts.at))) {
    const done = await transaction(async (sql) => {
      await sql.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
      await sql.query(`DROP TABLE "${p.name}"`);
      return true;
    }).catch((err: unknown) => {
      if ((err as { code?: string }).code === '55P03') return false; // lock_timeout: next pass
      throw err;
    });
    if (done) dropped.push(p.name);
  }
  return dropped;
}
