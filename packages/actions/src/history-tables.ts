import type { Sql, Transactor } from '@cmq/common';

/**
 * The append-only tables other than action_events that grow with work or time, each with the
 * column its age is measured by (pinger_history is the pinger's own: pinger.properties
 * history.retention). They are deleted by age in batches (their rows are small and
 * their indexes on age make a batch cheap); audit_log exists only once the console's migration
 * (016) has run, and is skipped where it does not.
 */
export const AGED_TABLES = {
  dead_letters: 'at',
  resource_changes: 'at',
  audit_log: 'at',
} as const;
export type AgedTable = keyof typeof AGED_TABLES;

/** Whether `table` exists in this database. */
export async function tableExists(sql: Sql, table: string): Promise<boolean> {
  const { rows } = await sql.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [table]);
  return rows[0]?.t != null;
}

/** How many rows of `table` are older than `keepMs` (a dry run's figure). */
export async function countAged(sql: Sql, table: AgedTable, keepMs: number): Promise<number> {
  if (!(await tableExists(sql, table))) return 0;
  const { rows } = await sql.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${table} WHERE ${AGED_TABLES[table]} < now() - $1::float8 * interval '1 millisecond'`,
    [keepMs],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Deletes the rows of `table` older than `keepMs`, `limit` per transaction (rows another
 * transaction holds are skipped, never waited for), until none is left or `goOn` (called after
 * each full batch) says false. Returns how many it deleted.
 */
export async function pruneAged(
  transaction: Transactor,
  table: AgedTable,
  keepMs: number,
  limit: number,
  signal?: AbortSignal,
  goOn?: () => Promise<boolean>,
): Promise<number> {
  if (!(await transaction((sql) => tableExists(sql, table)))) return 0;
  const at = AGED_TABLES[table];
  let total = 0;
  while (signal?.aborted !== true) {
    const n = await transaction(async (sql) => {
      const res = await sql.query(
        `DELETE FROM ${table} WHERE id IN (
           SELECT id FROM ${table} WHERE ${at} < now() - $1::float8 * interval '1 millisecond'
           ORDER BY ${at} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [keepMs, limit],
      );
      return res.rowCount ?? 0;
    });
    total += n;
    if (n < limit || (goOn !== undefined && !(await goOn()))) break;
  }
  return total;
}
