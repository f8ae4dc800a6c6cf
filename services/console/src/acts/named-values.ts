import { PLATFORM_TENANT } from '@cmq/actions';
import type { Sql } from '@cmq/common';
import type { NamingField } from './launch-fields';

/**
 * The existing values of each naming field, within the user's tenant ($1; null: all), at most 500
 * each; guests and nodes only while active (their actions would be refused).
 */
const QUERIES: Record<NamingField, string> = {
  tenant: `SELECT id AS v FROM tenants WHERE enabled AND ($1::text IS NULL OR id = $1) ORDER BY 1`,
  account: `SELECT id::text AS v FROM accounts WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY id`,
  guest: `SELECT DISTINCT id AS v FROM guests WHERE active AND ($1::text IS NULL OR tenant_id = $1) ORDER BY 1`,
  // Nodes are the platform's own hosts (no tenant column): only users of all tenants or of the platform's see them.
  node: `SELECT name AS v FROM nodes WHERE active AND ($1::text IS NULL OR $1 = '${PLATFORM_TENANT}') ORDER BY 1`,
  server: `SELECT server_id AS v FROM servers WHERE state NOT IN ('terminated', 'gone')
             AND ($1::text IS NULL OR tenant_id = $1) ORDER BY 1`,
  image: `SELECT DISTINCT image AS v FROM servers WHERE image <> '' AND ($1::text IS NULL OR tenant_id = $1) ORDER BY 1`,
};

/** The datalists of a launch form: for each naming field it has, the values that exist now. */
export async function namedValues(
  sql: Sql,
  fields: readonly NamingField[],
  tenant: string | null,
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  await Promise.all(
    fields.map(async (f) => {
      const { rows } = await sql.query<{ v: string }>(`${QUERIES[f]} LIMIT 500`, [tenant]);
      out[f] = rows.map((r) => r.v);
    }),
  );
  return out;
}
