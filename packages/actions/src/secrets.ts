import type { Sql } from '@cmq/common';

/** Every column that holds a keyring ciphertext: table, key columns, secret column. */
const SECRET_COLUMNS = [
  { table: 'accounts', key: ['id'], column: 'credentials' },
  { table: 'guests', key: ['tenant_id', 'id'], column: 'private_key' },
  { table: 'nodes', key: ['name'], column: 'private_key' },
  // Only actions with secret arguments (guest.exec env) have one.
  { table: 'actions', key: ['id'], column: 'secret_args' },
] as const;

export interface RotationCount {
  table: string;
  rotated: number;
  total: number;
}

/**
 * Re-encrypts every stored secret not already under `activeKeyId` with `reencrypt` (decrypt with
 * whichever key it names, encrypt with the active one). Run it inside one transaction: rows are
 * locked as read, so a secret is never half-rotated, and a failure rotates nothing.
 */
export async function rotateSecrets(
  sql: Sql,
  activeKeyId: string,
  reencrypt: (ciphertext: string) => string,
): Promise<RotationCount[]> {
  const counts: RotationCount[] = [];
  for (const { table, key, column } of SECRET_COLUMNS) {
    const keyList = key.join(', ');
    const { rows } = await sql.query<{ k: string[]; secret: string }>(
      `SELECT ARRAY[${key.map((k) => `${k}::text`).join(', ')}] AS k, ${column} AS secret FROM ${table} WHERE ${column} IS NOT NULL ORDER BY ${keyList} FOR UPDATE`,
    );
    const stale = rows.filter((r) => !r.secret.startsWith(`v1:${activeKeyId}:`));
    const where = key.map((k, i) => `${k}::text = $${i + 2}`).join(' AND ');
    for (const r of stale)
      await sql.query(`UPDATE ${table} SET ${column} = $1, updated_at = now() WHERE ${where}`, [
        reencrypt(r.secret),
        ...r.k,
      ]);
    counts.push({ table, rotated: stale.length, total: rows.length });
  }
  return counts;
}
