import { CmqError, type Sql, type Transactor } from '@cmq/common';
import { type ResourceState, diffResources } from './resource-diff';
import type { RecordedSyncKind, ResourceKind } from './sync-definitions';
import { jsonDocArray, sizeRanges, utf8Bound } from './storable';

export interface SyncObservation {
  tenant: string;
  account: string;
  syncKind: RecordedSyncKind;
  kind: ResourceKind;
  /** When the provider was asked (PostgreSQL's clock, read before the call). */
  observedAt: Date;
  /** Everything the provider listed, states already normalized. */
  listed: ReadonlyMap<string, ResourceState>;
  /** The sync action that saw it. */
  actionId: string | null;
}

export interface SyncRecord {
  created: number;
  changed: number;
  gone: number;
  /** Resources listed now. */
  total: number;
  /** A newer sync of this account and kind was committed first: nothing was recorded. */
  stale: boolean;
}

// Provider data goes as one JSON argument per statement (see jsonDocArray): a large account's
// listing is megabytes of JSON, which pg's array literals escaped quote by quote. A listing over
// MAX_ARGUMENT_BYTES goes as several statements (see sizeRanges).
const UPSERT = `
INSERT INTO resources (account_id, kind, resource_id, tenant_id, state, first_seen, last_seen, gone_at)
SELECT $1, $2, t.id, $3, t.state -> 0, $4, $4, NULL FROM ROWS FROM (unnest($5::text[]), jsonb_array_elements($6::jsonb)) AS t(id, state)
ON CONFLICT (account_id, kind, resource_id) DO UPDATE SET
  state = EXCLUDED.state,
  last_seen = EXCLUDED.last_seen,
  first_seen = CASE WHEN resources.gone_at IS NULL THEN resources.first_seen ELSE EXCLUDED.first_seen END,
  gone_at = NULL`;

const CHANGES = `
INSERT INTO resource_changes (tenant_id, account_id, kind, resource_id, change, fields, action_id)
SELECT $1, $2, $3, t.id, t.change, t.fields -> 0, $4
FROM ROWS FROM (unnest($5::text[]), unnest($6::text[]), jsonb_array_elements($7::jsonb)) WITH ORDINALITY AS t(id, change, fields, n)
ORDER BY t.n`;

/**
 * Records one sync's answer in one transaction: locks the account and kind's sync_schedule row
 * (created when missing) so that two syncs of the same account and kind never interleave, skips
 * an answer older than the last one recorded (`stale`), compares with the stored state, upserts
 * `resources`, marks the ones not listed any more gone, and writes one resource_changes row per
 * created / changed / gone resource.
 */
export async function recordSync(transaction: Transactor, o: SyncObservation): Promise<SyncRecord> {
  return transaction(async (sql) => {
    await sql.query(
      'INSERT INTO sync_schedule (account_id, kind, next_run_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING',
      [o.account, o.syncKind],
    );
    const lock = await sql.query<{ observed_at: Date | null }>(
      'SELECT observed_at FROM sync_schedule WHERE account_id = $1 AND kind = $2 FOR UPDATE',
      [o.account, o.syncKind],
    );
    const last = lock.rows[0]?.observed_at ?? null;
    if (last !== null && last.getTime() > o.observedAt.getTime())
      return { created: 0, changed: 0, gone: 0, total: o.listed.size, stale: true };

    const { rows } = await sql.query<{ resource_id: string; state: ResourceState }>(
      'SELECT resource_id, state FROM resources WHERE account_id = $1 AND kind = $2 AND gone_at IS NULL',
      [o.account, o.kind],
    );
    const diff = diffResources(new Map(rows.map((r) => [r.resource_id, r.state])), o.listed);

    const ids = [...o.listed.keys()];
    const states = ids.map((id) => JSON.stringify(o.listed.get(id)));
    for (const [from, to] of sizeRanges(states.map(utf8Bound))) {
      await sql.query(UPSERT, [
        o.account,
        o.kind,
        o.tenant,
        o.observedAt,
        ids.slice(from, to),
        jsonDocArray(states.slice(from, to)),
      ]);
    }
    if (diff.gone.length > 0) {
      await sql.query(
        'UPDATE resources SET gone_at = $3 WHERE account_id = $1 AND kind = $2 AND resource_id = ANY($4::text[])',
        [o.account, o.kind, o.observedAt, diff.gone.map((g) => g.id)],
      );
    }
    const changes = [
      ...diff.created.map((c) => [c.id, 'created', c.state] as const),
      ...diff.changed.map((c) => [c.id, 'changed', c.fields] as const),
      ...diff.gone.map((c) => [c.id, 'gone', c.state] as const),
    ];
    const fields = changes.map((c) => JSON.stringify(c[2]));
    for (const [from, to] of sizeRanges(fields.map(utf8Bound))) {
      const part = changes.slice(from, to);
      await sql.query(CHANGES, [
        o.tenant,
        o.account,
        o.kind,
        o.actionId,
        part.map((c) => c[0]),
        part.map((c) => c[1]),
        jsonDocArray(fields.slice(from, to)),
      ]);
    }
    await sql.query('UPDATE sync_schedule SET observed_at = $3 WHERE account_id = $1 AND kind = $2', [
      o.account,
      o.syncKind,
      o.observedAt,
    ]);
    return {
      created: diff.created.length,
      changed: diff.changed.length,
      gone: diff.gone.length,
      total: o.listed.size,
      stale: false,
    };
  });
}

/** PostgreSQL's clock: what a sync reads before asking the provider (one clock for every host). */
export async function databaseNow(sql: Sql): Promise<Date> {
  const { rows } = await sql.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return (rows[0] as { now: Date }).now;
}

export interface ResourceRow {
  account_id: string;
  kind: ResourceKind;
  resource_id: string;
  state: ResourceState;
  first_seen: Date;
  last_seen: Date;
  gone_at: Date | null;
}

export interface ResourceFilter {
  tenant: string;
  kind?: ResourceKind;
  account?: string;
  /** Include resources that are gone. */
  all?: boolean;
}

/** @throws CmqError CMQ_ERR_TENANT for an unknown tenant (so that "none" is not said of a typo). */
export async function requireTenant(sql: Sql, tenant: string): Promise<void> {
  const { rowCount } = await sql.query('SELECT 1 FROM tenants WHERE id = $1', [tenant]);
  if (rowCount === 0) throw new CmqError('CMQ_ERR_TENANT', `unknown tenant "${tenant}" (cmq tenants list)`);
}

/** A tenant's resources, by account, kind and id. */
export async function listResources(sql: Sql, f: ResourceFilter): Promise<ResourceRow[]> {
  await requireTenant(sql, f.tenant);
  const { rows } = await sql.query<ResourceRow>(
    `SELECT account_id::text, kind, resource_id, state, first_seen, last_seen, gone_at FROM resources
     WHERE tenant_id = $1 AND ($2::text IS NULL OR kind = $2) AND ($3::bigint IS NULL OR account_id = $3) AND ($4 OR gone_at IS NULL)
     ORDER BY account_id, kind, resource_id`,
    [f.tenant, f.kind ?? null, f.account ?? null, f.all === true],
  );
  return rows;
}

export interface ChangeRow {
  id: string;
  account_id: string;
  kind: ResourceKind;
  resource_id: string;
  change: 'created' | 'changed' | 'gone';
  fields: Record<string, unknown>;
  at: Date;
  action_id: string | null;
}

export interface ChangeFilter {
  tenant: string;
  since?: Date;
  kind?: ResourceKind;
  account?: string;
  limit: number;
}

/**
 * A tenant's resource changes, oldest first: with `since`, the first `limit` after it (a feed to
 * page through); without, the latest `limit`.
 */
export async function listChanges(sql: Sql, f: ChangeFilter): Promise<ChangeRow[]> {
  await requireTenant(sql, f.tenant);
  const { rows } = await sql.query<ChangeRow>(
    `SELECT * FROM (
       SELECT id::text, account_id::text, kind, resource_id, change, fields, at, action_id::text FROM resource_changes
       WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR at > $2) AND ($3::text IS NULL OR kind = $3) AND ($4::bigint IS NULL OR account_id = $4)
       ORDER BY CASE WHEN $2::timestamptz IS NULL THEN -id ELSE id END
       LIMIT $5
     ) c ORDER BY at, id::bigint`,
    [f.tenant, f.since ?? null, f.kind ?? null, f.account ?? null, f.limit],
  );
  return rows;
}
