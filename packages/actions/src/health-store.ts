import { FAMILIES, type Family, type Sql } from '@cmq/common';
import type { FamilyHealth, PingerSummary } from './health';

/** The pinger's canaries run as this tenant (created by migration 003). */
export const CANARY_TENANT = 'cmq-canary';

/** Counts of one family's unfinished actions and the age of its oldest waiting one. */
export interface FamilyCounts {
  backlog: number;
  queued: number;
  running: number;
  oldest_age_s: number | null;
}

/**
 * Per family: due pending/retrying actions (backlog), queued, running, and the age of the oldest
 * waiting one (due since max(created_at, not_before), or queued since queued_at). Reads only
 * rows in unfinished states, which the partial indexes of migration 002 cover: written as two
 * IN lists ORed, which the planner matches to actions_due and actions_inflight (one list of all
 * four matched neither, and scanned every action ever kept).
 */
export async function familyCounts(sql: Sql): Promise<Record<Family, FamilyCounts>> {
  const { rows } = await sql.query<{
    family: Family;
    backlog: number;
    queued: number;
    running: number;
    oldest: number | null;
  }>(
    `SELECT family,
       count(*) FILTER (WHERE state IN ('pending', 'retrying') AND not_before <= now())::int AS backlog,
       count(*) FILTER (WHERE state = 'queued')::int AS queued,
       count(*) FILTER (WHERE state = 'running')::int AS running,
       extract(epoch FROM now() - min(CASE
         WHEN state IN ('pending', 'retrying') AND not_before <= now() THEN greatest(created_at, not_before)
         WHEN state = 'queued' THEN queued_at END))::float8 AS oldest
     FROM actions WHERE (state IN ('pending', 'retrying') OR state IN ('queued', 'running')) GROUP BY family`,
  );
  const out = {} as Record<Family, FamilyCounts>;
  for (const family of FAMILIES) out[family] = { backlog: 0, queued: 0, running: 0, oldest_age_s: null };
  for (const r of rows) {
    out[r.family] = {
      backlog: r.backlog,
      queued: r.queued,
      running: r.running,
      oldest_age_s: r.oldest === null ? null : Math.max(0, Math.round(r.oldest * 10) / 10),
    };
  }
  return out;
}

/** Actions that became dead plus dead letters recorded in the last `ms` milliseconds. */
export async function deadSince(sql: Sql, ms: number): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM actions WHERE state = 'dead' AND finished_at > now() - $1 * interval '1 millisecond')
           + (SELECT count(*) FROM dead_letters WHERE at > now() - $1 * interval '1 millisecond'))::int AS n`,
    [ms],
  );
  return rows[0]?.n ?? 0;
}

/** What the pinger needs to know about a canary it sent. */
export interface CanaryRow {
  id: string;
  state: string;
  created_at: Date;
  finished_at: Date | null;
}

export async function canaryRows(sql: Sql, ids: readonly string[]): Promise<Map<string, CanaryRow>> {
  if (ids.length === 0) return new Map();
  const { rows } = await sql.query<CanaryRow>(
    'SELECT id::text, state, created_at, finished_at FROM actions WHERE id = ANY($1::bigint[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** Appends one summary to `pinger_history`. */
export async function recordSummary(sql: Sql, summary: PingerSummary): Promise<void> {
  await sql.query('INSERT INTO pinger_history (at, pinger, summary) VALUES ($1, $2, $3)', [
    summary.at,
    summary.pinger,
    JSON.stringify(summary),
  ]);
}

/** Deletes history rows older than `retentionMs`; returns how many went. */
export async function pruneHistory(sql: Sql, retentionMs: number): Promise<number> {
  const { rowCount } = await sql.query("DELETE FROM pinger_history WHERE at < now() - $1 * interval '1 millisecond'", [
    retentionMs,
  ]);
  return rowCount ?? 0;
}

/** One point of the pinger's history, for charts: per family canary latency and backlog, dead actions. */
export interface HistoryPoint {
  at: Date;
  dead: number;
  families: Record<string, { backlog: number; canary_ms: number | null }>;
}

/**
 * The pinger's history over the last `ms`, at most `points` rows (evenly thinned in SQL, so the
 * page never carries more than `points` summaries however long the window).
 */
export async function historySeries(sql: Sql, ms: number, points = 360): Promise<HistoryPoint[]> {
  const { rows } = await sql.query<{ at: Date; summary: Partial<PingerSummary> }>(
    `SELECT at, summary FROM (
       SELECT at, summary, row_number() OVER (ORDER BY at) AS i, count(*) OVER () AS n
       FROM pinger_history WHERE at > now() - $1 * interval '1 millisecond') h
     WHERE i % greatest(1, ceil(n::float8 / $2)::int) = 0 OR i = n ORDER BY at`,
    [ms, points],
  );
  return rows.map((r) => {
    const families: HistoryPoint['families'] = {};
    for (const [f, h] of Object.entries(r.summary.families ?? {})) {
      const x = h as Partial<FamilyHealth> | undefined;
      families[f] = { backlog: Number(x?.backlog ?? 0), canary_ms: x?.canary?.latency_ms ?? null };
    }
    return { at: r.at, dead: Number(r.summary.dead_last_interval ?? 0), families };
  });
}

/** Actions finished per family and `bucketS`-second bucket over the last `ms` (the actions_final index). */
export async function throughputSeries(
  sql: Sql,
  ms: number,
  bucketS: number,
): Promise<Array<{ at: Date; family: string; n: number }>> {
  const { rows } = await sql.query<{ at: Date; family: string; n: number }>(
    `SELECT to_timestamp(floor(extract(epoch FROM finished_at) / $2) * $2) AS at, family, count(*)::int AS n
     FROM actions WHERE state IN ('succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected')
       AND finished_at > now() - $1 * interval '1 millisecond'
     GROUP BY 1, 2 ORDER BY 1, 2`,
    [ms, bucketS],
  );
  return rows;
}
