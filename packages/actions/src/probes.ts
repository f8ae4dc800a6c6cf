import type { Sql } from '@cmq/common';
import type { ProbeParse } from './probe-parsers';
import { storableJson, storableText } from './storable';

/** One stored probe run, as `cmq probes` shows it. */
export interface ProbeResult {
  tenant: string;
  target: string;
  probe: string;
  at: string;
  exit_code: number | null;
  records: unknown[];
  warnings: string[];
}

/**
 * Stores one run (a NUL in the remote output written `\u0000`, see storableJson); returns it as
 * stored (its `at` from PostgreSQL's clock).
 */
export async function recordProbeResult(
  sql: Sql,
  tenant: string,
  target: string,
  probe: string,
  exitCode: number | null,
  parsed: ProbeParse<unknown>,
): Promise<ProbeResult> {
  const { rows } = await sql.query<{ at: Date }>(
    'INSERT INTO probe_results (tenant_id, target, probe, exit_code, records, warnings) VALUES ($1, $2, $3, $4, $5, $6) RETURNING at',
    [tenant, target, probe, exitCode, storableJson(parsed.records), parsed.warnings.map(storableText)],
  );
  const at = rows[0]?.at ?? new Date();
  return {
    tenant,
    target,
    probe,
    at: at.toISOString(),
    exit_code: exitCode,
    records: parsed.records,
    warnings: parsed.warnings,
  };
}

/** The latest run of each probe of `target` (one row per probe). */
export async function latestProbeResults(sql: Sql, tenant: string, target: string): Promise<ProbeResult[]> {
  const { rows } = await sql.query<{
    probe: string;
    at: Date;
    exit_code: number | null;
    records: unknown[];
    warnings: string[];
  }>(
    `SELECT DISTINCT ON (probe) probe, at, exit_code, records, warnings FROM probe_results
     WHERE tenant_id = $1 AND target = $2 ORDER BY probe, at DESC, id DESC`,
    [tenant, target],
  );
  return rows.map((r) => ({
    tenant,
    target,
    probe: r.probe,
    at: r.at.toISOString(),
    exit_code: r.exit_code,
    records: r.records,
    warnings: r.warnings,
  }));
}

/** The latest run of each probe of every target (of `tenant`, or of all tenants), at most `limit` rows. */
export async function latestProbesOfAll(sql: Sql, tenant: string | null, limit = 200): Promise<ProbeResult[]> {
  const { rows } = await sql.query<{
    tenant_id: string;
    target: string;
    probe: string;
    at: Date;
    exit_code: number | null;
    records: unknown[];
    warnings: string[];
  }>(
    `SELECT DISTINCT ON (tenant_id, target, probe) tenant_id, target, probe, at, exit_code, records, warnings
     FROM probe_results WHERE ($1::text IS NULL OR tenant_id = $1)
     ORDER BY tenant_id, target, probe, at DESC, id DESC LIMIT $2`,
    [tenant, limit],
  );
  return rows.map((r) => ({
    tenant: r.tenant_id,
    target: r.target,
    probe: r.probe,
    at: r.at.toISOString(),
    exit_code: r.exit_code,
    records: r.records,
    warnings: r.warnings,
  }));
}
