import type { Sql } from '@cmq/common';
import { storableJson, storableText } from './storable';

/** What an audit row says happened to whom: `ok`, `failed`, `throttled`, `refused`. */
export type AuditOutcome = 'ok' | 'failed' | 'throttled' | 'refused';

export interface AuditEntry {
  /** Who did it: a console user's name, `cli:<user>@<host>`, or the name tried at a login. */
  actor: string;
  actorAddress?: string | null;
  /** `login`, `logout`, `token.use`, `token.create`, `user.add`, `user.passwd`, `user.disable`, ... */
  action: string;
  target?: string | null;
  outcome: AuditOutcome;
  tenant?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  actor_address: string | null;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  tenant: string | null;
  detail: Record<string, unknown> | null;
}

function storable(text: string | null | undefined): string | null {
  return text === undefined || text === null ? null : storableText(text);
}

/**
 * Appends one row to `audit_log`. What a request carried is kept as it came, made storable (a NUL
 * written `\u0000`, half a surrogate pair U+FFFD): a refused form whose errors quote a NUL it was
 * sent is still recorded, rather than failing the insert and the request with it.
 */
export async function recordAudit(sql: Sql, e: AuditEntry): Promise<void> {
  await sql.query(
    `INSERT INTO audit_log (actor, actor_address, action, target, outcome, tenant, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      storable(e.actor),
      storable(e.actorAddress),
      storable(e.action),
      storable(e.target),
      e.outcome,
      storable(e.tenant),
      e.detail === undefined || e.detail === null ? null : storableJson(e.detail),
    ],
  );
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  /** Only rows of this tenant (a tenant-bound reader's scope). */
  tenant?: string;
  /** Keyset paging: rows with an id below this one. */
  before?: string;
  /** At most this many rows (default 100, at most 1000). */
  limit?: number;
}

/** Audit rows, newest first (by the numeric id, not its text), filtered and paged by id. */
export async function listAudit(sql: Sql, filter: AuditFilter = {}): Promise<AuditRow[]> {
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
  const { rows } = await sql.query<AuditRow>(
    `SELECT id::text, at, actor, actor_address, action, target, outcome, tenant, detail FROM audit_log
      WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
        AND ($3::text IS NULL OR tenant = $3) AND ($4::bigint IS NULL OR id < $4)
      ORDER BY audit_log.id DESC LIMIT $5`,
    [filter.actor ?? null, filter.action ?? null, filter.tenant ?? null, filter.before ?? null, limit],
  );
  return rows;
}
