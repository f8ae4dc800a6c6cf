import type { Sql } from '@cmq/common';
import { storableText } from './storable';

export interface DeadLetter {
  reason: string;
  routingKey: string;
  tenant: string | null;
  body: Buffer;
  worker: string;
}

/**
 * Records a message that matches no action (not JSON, unknown tenant...), keeping the first
 * `keepBytes` of its body. The tenant is kept only when it exists. A NUL in the reason, routing
 * key or tenant (PostgreSQL text cannot hold one) is written `\u0000`: a malformed message must
 * still be recorded, never fail its own dead-lettering. Returns the id and that tenant.
 */
export async function recordDeadLetter(
  sql: Sql,
  d: DeadLetter,
  keepBytes = 64 * 1024,
): Promise<{ id: string; tenant: string | null }> {
  const { rows } = await sql.query<{ id: string; tenant_id: string | null }>(
    `INSERT INTO dead_letters (reason, routing_key, tenant_id, body, body_bytes, worker)
     VALUES ($1, $2, (SELECT id FROM tenants WHERE id = $3), $4, $5, $6) RETURNING id::text, tenant_id`,
    [
      storableText(d.reason),
      storableText(d.routingKey),
      d.tenant === null ? null : storableText(d.tenant),
      d.body.subarray(0, keepBytes),
      d.body.length,
      d.worker,
    ],
  );
  const row = rows[0] as { id: string; tenant_id: string | null };
  return { id: row.id, tenant: row.tenant_id };
}

/** One line of `cmq dead list`: a dead action (`id` numeric) or a dead message (`id` = `m<n>`). */
export interface DeadEntry {
  id: string;
  at: Date;
  tenant: string | null;
  type: string | null;
  reason: string;
  routing_key: string | null;
}

export async function listDead(sql: Sql, filter: { tenant?: string; limit: number }): Promise<DeadEntry[]> {
  const { rows } = await sql.query<DeadEntry>(
    `SELECT * FROM (
       SELECT id::text, COALESCE(finished_at, updated_at) AS at, tenant_id AS tenant, type, COALESCE(error, '') AS reason,
              family || '.' || type || '.' || tenant_id AS routing_key
       FROM actions WHERE state = 'dead' AND ($1::text IS NULL OR tenant_id = $1)
       UNION ALL
       SELECT 'm' || id, at, tenant_id, NULL, reason, routing_key
       FROM dead_letters WHERE replayed_at IS NULL AND ($1::text IS NULL OR tenant_id = $1)
     ) d ORDER BY at DESC LIMIT $2`,
    [filter.tenant ?? null, filter.limit],
  );
  return rows;
}

export interface DeadLetterRow {
  id: string;
  at: Date;
  reason: string;
  routing_key: string;
  tenant_id: string | null;
  body: Buffer;
  body_bytes: number;
  worker: string;
  replayed_at: Date | null;
}

export async function getDeadLetter(sql: Sql, id: string): Promise<DeadLetterRow | undefined> {
  const { rows } = await sql.query<DeadLetterRow>(
    'SELECT id::text, at, reason, routing_key, tenant_id, body, body_bytes, worker, replayed_at FROM dead_letters WHERE id = $1',
    [id],
  );
  return rows[0];
}

export async function markDeadLetterReplayed(sql: Sql, id: string): Promise<void> {
  await sql.query('UPDATE dead_letters SET replayed_at = now() WHERE id = $1', [id]);
}

/** Dead actions and unreplayed dead messages counted by reason and tenant, most frequent first. */
export interface DeadGroup {
  kind: 'action' | 'message';
  reason: string;
  tenant: string | null;
  n: number;
  last_at: Date;
}

export async function deadGroups(sql: Sql, tenant: string | null, limit = 200): Promise<DeadGroup[]> {
  const { rows } = await sql.query<DeadGroup>(
    `SELECT * FROM (
       SELECT 'action' AS kind, left(COALESCE(error, ''), 200) AS reason, tenant_id AS tenant, count(*)::int AS n,
              max(finished_at) AS last_at
       FROM actions WHERE state = 'dead' AND ($1::text IS NULL OR tenant_id = $1) GROUP BY 2, 3
       UNION ALL
       SELECT 'message', left(reason, 200), tenant_id, count(*)::int, max(at)
       FROM dead_letters WHERE replayed_at IS NULL AND ($1::text IS NULL OR tenant_id = $1) GROUP BY 2, 3
     ) g ORDER BY n DESC, last_at DESC LIMIT $2`,
    [tenant, limit],
  );
  return rows;
}
