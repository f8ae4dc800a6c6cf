import { FINAL_STATES, type Sql } from '@cmq/common';

/**
 * The unfinished states, written so that PostgreSQL reads them through the two partial indexes
 * that hold them (actions_due: pending, retrying; actions_inflight: queued, running) instead of
 * the whole table: a plain `state IN (...)` of all four matches neither index's predicate and
 * was a scan of every action ever kept.
 */
const UNFINISHED = `(state IN ('pending', 'retrying') OR state IN ('queued', 'running'))`;

/** One family's work, as `cmq status` shows it. */
export interface FamilyLoad {
  family: string;
  backlog: number;
  queued: number;
  running: number;
  oldest_age_s: number | null;
  broker_depth: number | null;
}

/**
 * Backlog (pending or retrying), queued and running per family, and the age of the oldest action
 * still waiting (due but not yet queued since `max(created_at, not_before)`, or queued but not yet running since
 * `queued_at`): what the pinger's summary holds, computed when there is no summary.
 */
export async function familyLoads(sql: Sql): Promise<FamilyLoad[]> {
  const { rows } = await sql.query<Omit<FamilyLoad, 'broker_depth'>>(
    `SELECT family,
       count(*) FILTER (WHERE state IN ('pending', 'retrying'))::int AS backlog,
       count(*) FILTER (WHERE state = 'queued')::int AS queued,
       count(*) FILTER (WHERE state = 'running')::int AS running,
       extract(epoch FROM now() - min(CASE WHEN state IN ('pending', 'retrying') AND not_before <= now() THEN GREATEST(created_at, not_before)
                                           WHEN state = 'queued' THEN queued_at END))::float8 AS oldest_age_s
     FROM actions WHERE ${UNFINISHED} GROUP BY family ORDER BY family`,
  );
  return rows.map((r) => ({ ...r, broker_depth: null }));
}

/**
 * Counts by state per tenant (tenant → state → count): unfinished actions now, final ones
 * finished over the last hour. Counting every action ever kept read the whole table (a second
 * with two million finished actions behind it); each final state's count is a range of the
 * actions_final index.
 */
export async function tenantStates(sql: Sql): Promise<Record<string, Record<string, number>>> {
  const finals = FINAL_STATES.map(
    (s) =>
      `SELECT tenant_id, state, count(*)::int AS n FROM actions WHERE state = '${s}' AND finished_at > now() - interval '1 hour' GROUP BY tenant_id, state`,
  );
  const { rows } = await sql.query<{ tenant_id: string; state: string; n: number }>(
    `SELECT tenant_id, state, n FROM (
       SELECT tenant_id, state, count(*)::int AS n FROM actions WHERE ${UNFINISHED} GROUP BY tenant_id, state
       UNION ALL ${finals.join(' UNION ALL ')}) c ORDER BY tenant_id, state`,
  );
  const out: Record<string, Record<string, number>> = {};
  for (const r of rows) (out[r.tenant_id] ??= {})[r.state] = r.n;
  return out;
}
