import { FINAL_STATES, type Sql } from '@cmq/common';

/** One tenant's work: unfinished actions now, finished ones over the last hour and day. */
export interface TenantStats {
  tenant: string;
  /** Unfinished actions by state now, and final ones by state over the last day. */
  states: Record<string, number>;
  finished_hour: number;
  finished_day: number;
  /** Failed or dead share of the actions finished in the window (0 to 1), null when none finished. */
  failure_rate_hour: number | null;
  failure_rate_day: number | null;
  dead_rate_hour: number | null;
  dead_rate_day: number | null;
  /** Durations (start, or creation, to finish) in ms over the last day, per type. */
  types: Array<{ type: string; n: number; p50_ms: number; p95_ms: number }>;
}

/**
 * The last day's final actions, one UNION ALL branch per final state (`state = '...'`), so each
 * branch reads its own range of the actions_final (state, finished_at) index. Written as
 * `state IN (<every final state>)`, the condition equals the partial index's predicate, PostgreSQL
 * drops it, and the scan walks the whole index for `finished_at` (or the whole table): 5,074 index
 * pages instead of ~150 at 1,000,000 actions (docs/benchmark.md, the console). $1: tenant or null.
 */
function lastDay(columns: string): string {
  return FINAL_STATES.map(
    (state) =>
      `SELECT ${columns} FROM actions WHERE state = '${state}' AND finished_at > now() - interval '1 day'
         AND ($1::text IS NULL OR tenant_id = $1)`,
  ).join(' UNION ALL ');
}

/** Final states per tenant over the last day and hour. */
const FINALS_SQL = `SELECT tenant_id, state, count(*)::int AS day,
    count(*) FILTER (WHERE finished_at > now() - interval '1 hour')::int AS hour
  FROM (${lastDay('tenant_id, state, finished_at')}) f GROUP BY 1, 2`;

/** Durations (start, or creation, to finish) per tenant and type over the last day: one sort for both percentiles. */
const TYPES_SQL = `SELECT tenant_id, type, count(*)::int AS n,
    percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY d)::float8[] AS p
  FROM (SELECT tenant_id, type, extract(epoch FROM finished_at - coalesce(started_at, created_at)) * 1000 AS d
        FROM (${lastDay('tenant_id, type, finished_at, started_at, created_at')}) l) f
  GROUP BY 1, 2 ORDER BY 1, 2`;

function rate(part: number, all: number): number | null {
  return all === 0 ? null : Math.round((part / all) * 10_000) / 10_000;
}

/**
 * Per tenant (only `tenant` when given): unfinished actions by state, and over the last day's
 * finished actions (read through the actions_final index, never the whole table): final states,
 * throughput, failure and dead rates over the last hour and day, p50/p95 durations per type.
 * Three queries at once: counts never pay for the percentiles' sort.
 */
export async function tenantStats(sql: Sql, tenant: string | null): Promise<TenantStats[]> {
  const [open, finals, types] = await Promise.all([
    sql.query<{ tenant_id: string; state: string; n: number }>(
      `SELECT tenant_id, state, count(*)::int AS n FROM actions
       WHERE state IN ('pending', 'retrying') AND ($1::text IS NULL OR tenant_id = $1) GROUP BY 1, 2
       UNION ALL
       SELECT tenant_id, state, count(*)::int AS n FROM actions
       WHERE state IN ('queued', 'running') AND ($1::text IS NULL OR tenant_id = $1) GROUP BY 1, 2`,
      [tenant],
    ),
    sql.query<{ tenant_id: string; state: string; day: number; hour: number }>(FINALS_SQL, [tenant]),
    sql.query<{ tenant_id: string; type: string; n: number; p: [number, number] }>(TYPES_SQL, [tenant]),
  ]);
  const out = new Map<string, TenantStats>();
  const of = (t: string): TenantStats => {
    let s = out.get(t);
    if (s === undefined) {
      s = {
        tenant: t,
        states: {},
        finished_hour: 0,
        finished_day: 0,
        failure_rate_hour: null,
        failure_rate_day: null,
        dead_rate_hour: null,
        dead_rate_day: null,
        types: [],
      };
      out.set(t, s);
    }
    return s;
  };
  for (const r of open.rows) of(r.tenant_id).states[r.state] = r.n;
  const bad = new Map<string, { fh: number; fd: number; dh: number; dd: number }>();
  for (const r of finals.rows) {
    const s = of(r.tenant_id);
    s.states[r.state] = r.day;
    s.finished_day += r.day;
    s.finished_hour += r.hour;
    const b = bad.get(r.tenant_id) ?? { fh: 0, fd: 0, dh: 0, dd: 0 };
    const failed = r.state === 'failed' || r.state === 'dead' ? 1 : 0;
    const dead = r.state === 'dead' ? 1 : 0;
    b.fh += failed * r.hour;
    b.fd += failed * r.day;
    b.dh += dead * r.hour;
    b.dd += dead * r.day;
    bad.set(r.tenant_id, b);
  }
  for (const [t, b] of bad) {
    const s = of(t);
    s.failure_rate_hour = rate(b.fh, s.finished_hour);
    s.failure_rate_day = rate(b.fd, s.finished_day);
    s.dead_rate_hour = rate(b.dh, s.finished_hour);
    s.dead_rate_day = rate(b.dd, s.finished_day);
  }
  for (const r of types.rows)
    of(r.tenant_id).types.push({ type: r.type, n: r.n, p50_ms: Math.round(r.p[0]), p95_ms: Math.round(r.p[1]) });
  return [...out.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
}
