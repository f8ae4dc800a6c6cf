import type { Sql } from '@cmq/common';
import { AGED_TABLES, tableExists } from './history-tables';

/** One table or partition of history in `cmq history stats`. */
export interface HistoryTableStats {
  table: string;
  /** The partitioned table it belongs to, when it is a partition. */
  partitionOf: string | null;
  /** Its range, for a partition of action_events (`MINVALUE`, `DEFAULT`). */
  range: string | null;
  /** Rows, estimated from the planner's statistics (exact counts would read every row). */
  rows: number;
  /** Heap, indexes and TOAST. */
  bytes: number;
  /** The oldest row, where an index finds it at once (null otherwise or when empty). */
  oldest: Date | null;
}

/** What an index answers at once: the oldest row of each table that has one on its age. */
const OLDEST: Record<string, string> = {
  actions: 'SELECT created_at AS at FROM actions ORDER BY id LIMIT 1',
  ...Object.fromEntries(
    Object.entries(AGED_TABLES).map(([t, c]) => [t, `SELECT ${c} AS at FROM ${t} ORDER BY ${c} LIMIT 1`]),
  ),
};

async function oldest(sql: Sql, table: string): Promise<Date | null> {
  const query = OLDEST[table];
  if (query === undefined) return null;
  const { rows } = await sql.query<{ at: Date }>(query);
  return rows[0]?.at ?? null;
}

/**
 * Rows, bytes and oldest row of actions, action_events (and each of its partitions) and the
 * other tables retention prunes. action_events' own oldest row has no index to find it: the
 * oldest action's (`actions`) bounds it, since events go with their action.
 */
export async function historyStats(sql: Sql): Promise<HistoryTableStats[]> {
  const tables = ['actions', 'action_events', ...Object.keys(AGED_TABLES)];
  const out: HistoryTableStats[] = [];
  for (const table of tables) {
    if (!(await tableExists(sql, table))) continue;
    const { rows } = await sql.query<{
      name: string;
      parent: string | null;
      bound: string | null;
      rows: string;
      bytes: string;
    }>(
      `SELECT c.relname AS name, p.relname AS parent, pg_get_expr(c.relpartbound, c.oid) AS bound,
              greatest(c.reltuples, 0)::bigint::text AS rows, pg_total_relation_size(c.oid)::text AS bytes
       FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent
       WHERE c.oid = $1::regclass OR i.inhparent = $1::regclass
       ORDER BY p.relname NULLS FIRST, c.relname`,
      [table],
    );
    const parts = rows.filter((r) => r.parent !== null);
    for (const r of rows) {
      const isParent = r.parent === null && parts.length > 0;
      out.push({
        table: r.name,
        partitionOf: r.parent,
        range: r.bound === null ? null : r.bound.replace(/^FOR VALUES /, ''),
        rows: isParent ? parts.reduce((n, p) => n + Number(p.rows), 0) : Number(r.rows),
        bytes: isParent ? parts.reduce((n, p) => n + Number(p.bytes), 0) : Number(r.bytes),
        oldest: r.parent === null ? await oldest(sql, r.name) : null,
      });
    }
  }
  return out;
}
