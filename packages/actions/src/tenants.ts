import { CmqError, type Sql } from '@cmq/common';

export const TENANT_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface Tenant {
  id: string;
  name: string;
  enabled: boolean;
  created_at: Date;
}

/** Adds a tenant. @throws CmqError CMQ_ERR_TENANT for a bad or taken id. */
export async function addTenant(sql: Sql, id: string, name: string): Promise<void> {
  if (!TENANT_ID_RE.test(id))
    throw new CmqError(
      'CMQ_ERR_TENANT',
      `tenant id "${id}": use 1-63 of a-z, 0-9, _ and -, starting with a letter or digit`,
    );
  const { rowCount } = await sql.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
    id,
    name,
  ]);
  if (rowCount === 0) throw new CmqError('CMQ_ERR_TENANT', `tenant "${id}" already exists`);
}

export async function listTenants(sql: Sql): Promise<Tenant[]> {
  const { rows } = await sql.query<Tenant>('SELECT id, name, enabled, created_at FROM tenants ORDER BY id');
  return rows;
}

/**
 * Enables or disables a tenant: a disabled tenant's actions are refused at intake and end
 * `rejected` when a subscriber claims them. Returns whether the flag changed.
 * @throws CmqError CMQ_ERR_TENANT for an unknown tenant.
 */
export async function setTenantEnabled(sql: Sql, id: string, enabled: boolean): Promise<boolean> {
  const { rows } = await sql.query<{ changed: boolean }>(
    'UPDATE tenants t SET enabled = $2, updated_at = now() FROM (SELECT enabled FROM tenants WHERE id = $1 FOR UPDATE) old WHERE t.id = $1 RETURNING old.enabled <> $2 AS changed',
    [id, enabled],
  );
  const row = rows[0];
  if (row === undefined) throw new CmqError('CMQ_ERR_TENANT', `unknown tenant "${id}" (cmq tenants list)`);
  return row.changed;
}
