import { CmqError, FINGERPRINT_RE, type Sql } from '@cmq/common';
import { logPathProblem } from '@cmq/config';

export const GUEST_ID_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** A guest as listed: everything but the private key. */
export interface GuestInfo {
  tenant_id: string;
  id: string;
  address: string;
  port: number;
  user: string;
  host_key_fingerprint: string | null;
  trust_on_first_use: boolean;
  /** Remote files the publisher collects on a schedule; null: publisher.properties logs.paths; []: none. */
  log_paths: string[] | null;
  created_at: Date;
}

/** A guest with its encrypted private key, for the SSH adapter (decrypt only to connect). */
export interface GuestSecret extends GuestInfo {
  private_key: string;
}

export interface NewGuest {
  tenant: string;
  id: string;
  address: string;
  port: number;
  user: string;
  /** Ciphertext from the keyring, never the key itself. */
  encryptedKey: string;
  hostKey?: string;
  trustOnFirstUse: boolean;
  /** Undefined: the publisher's logs.paths apply; []: no scheduled collection. */
  logPaths?: readonly string[];
}

/** Most log paths a guest may have (the CHECK of migration 007). */
export const MAX_LOG_PATHS = 100;

export { MAX_LOG_PATH_BYTES, logPathProblem } from '@cmq/config';

/** @throws CmqError CMQ_ERR_GUEST naming the first bad path. */
export function checkLogPaths(paths: readonly string[]): void {
  if (paths.length > MAX_LOG_PATHS)
    throw new CmqError('CMQ_ERR_GUEST', `${paths.length} log paths: at most ${MAX_LOG_PATHS}`);
  for (const path of paths) {
    const problem = logPathProblem(path);
    if (problem !== undefined) throw new CmqError('CMQ_ERR_GUEST', `log path "${path}" ${problem}`);
  }
}

/** Default id of a guest added without a name: its address, lower case. */
export function defaultGuestId(address: string): string {
  return address
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63);
}

/** @throws CmqError CMQ_ERR_GUEST for a bad id or fingerprint, an unknown tenant or a taken id. */
export async function addGuest(sql: Sql, g: NewGuest): Promise<void> {
  if (!GUEST_ID_RE.test(g.id))
    throw new CmqError(
      'CMQ_ERR_GUEST',
      `guest id "${g.id}": use 1-63 of a-z, 0-9, _ . and -, starting with a letter or digit`,
    );
  if (g.hostKey !== undefined && !FINGERPRINT_RE.test(g.hostKey))
    throw new CmqError(
      'CMQ_ERR_GUEST',
      `host key "${g.hostKey}" is not a SHA256:... fingerprint as ssh-keygen -l prints it`,
    );
  if (g.logPaths !== undefined) checkLogPaths(g.logPaths);
  const tenant = await sql.query('SELECT 1 FROM tenants WHERE id = $1', [g.tenant]);
  if (tenant.rowCount === 0) throw new CmqError('CMQ_ERR_GUEST', `unknown tenant "${g.tenant}"`);
  const { rowCount } = await sql.query(
    `INSERT INTO guests (tenant_id, id, address, port, "user", private_key, host_key_fingerprint, trust_on_first_use, log_paths)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, id) DO NOTHING`,
    [
      g.tenant,
      g.id,
      g.address,
      g.port,
      g.user,
      g.encryptedKey,
      g.hostKey ?? null,
      g.trustOnFirstUse,
      g.logPaths === undefined ? null : [...g.logPaths],
    ],
  );
  if (rowCount === 0) throw new CmqError('CMQ_ERR_GUEST', `guest "${g.id}" of tenant "${g.tenant}" already exists`);
}

const INFO_COLUMNS =
  'tenant_id, id, address, port, "user", host_key_fingerprint, trust_on_first_use, log_paths, created_at';

export async function listGuests(sql: Sql, tenant?: string): Promise<GuestInfo[]> {
  const { rows } = await sql.query<GuestInfo>(
    `SELECT ${INFO_COLUMNS} FROM guests WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY tenant_id, id`,
    [tenant ?? null],
  );
  return rows;
}

/** The guest with its encrypted key, or undefined. */
export async function getGuestSecret(sql: Sql, tenant: string, id: string): Promise<GuestSecret | undefined> {
  const { rows } = await sql.query<GuestSecret>(
    `SELECT ${INFO_COLUMNS}, private_key FROM guests WHERE tenant_id = $1 AND id = $2`,
    [tenant, id],
  );
  return rows[0];
}

/**
 * Records the fingerprint seen on first contact; only when none is recorded yet (a concurrent
 * first contact cannot overwrite another). Returns whether this call recorded it.
 */
export async function recordGuestHostKey(sql: Sql, tenant: string, id: string, fingerprint: string): Promise<boolean> {
  const { rowCount } = await sql.query(
    'UPDATE guests SET host_key_fingerprint = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 AND host_key_fingerprint IS NULL',
    [tenant, id, fingerprint],
  );
  return rowCount === 1;
}
