import type { Sql } from '@cmq/common';

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
     FROM actions WHERE state IN ('pending', 'retrying', 'queued', 'running') GROUP BY family ORDER BY family`,
  );
  return rows.map((r) => ({ ...r, broker_depth: null }));
}

/** Counts by state per tenant: tenant → state → count. */
export async function tenantStates(sql: Sql): Promise<Record<string, Record<string, number>>> {
  const { rows } = await sql.query<{ tenant_id: string; state: string; n: number }>(
    'SELECT tenant_id, state, count(*)::int AS n FROM actions GROUP BY tenant_id, state ORDER BY tenant_id, state',
  );
  const out: Record<string, Record<string, number>> = {};
  for (const r of rows) (out[r.tenant_id] ??= {})[r.state] = r.n;
  return out;
}
