import { CmqError, type Sql } from '@cmq/common';
import { logPathProblem } from '@cmq/config';
import { HostFieldError, hostFieldProblems, quotedValue, throwFirstProblem } from './host-fields';

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
  /** Inactive: guest.* actions naming it are refused, and its logs are not collected on a schedule. */
  active: boolean;
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

/**
 * Problems with a new guest's fields, by field name (`id`, `address`, `port`, `user`, `hostKey`,
 * `logPaths`): THE rules of `cmq guests add` and the console's form (the tenant is checked on insert).
 */
export function guestProblems(
  g: Omit<NewGuest, 'tenant' | 'encryptedKey' | 'trustOnFirstUse'>,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!GUEST_ID_RE.test(g.id))
    out.id = `guest id ${quotedValue(g.id)}: use 1-63 of a-z, 0-9, _ . and -, starting with a letter or digit`;
  Object.assign(out, hostFieldProblems(g));
  if (g.logPaths !== undefined)
    try {
      checkLogPaths(g.logPaths);
    } catch (err) {
      if (!(err instanceof CmqError)) throw err;
      out.logPaths = err.message;
    }
  return out;
}

/**
 * @throws HostFieldError CMQ_ERR_GUEST for a bad field ({@link guestProblems}), an unknown tenant
 * (field `tenant`) or a taken id (field `id`).
 */
export async function addGuest(sql: Sql, g: NewGuest): Promise<void> {
  throwFirstProblem('CMQ_ERR_GUEST', guestProblems(g));
  const tenant = await sql.query('SELECT 1 FROM tenants WHERE id = $1', [g.tenant]);
  if (tenant.rowCount === 0) throw new HostFieldError('CMQ_ERR_GUEST', 'tenant', `unknown tenant "${g.tenant}"`);
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
  if (rowCount === 0)
    throw new HostFieldError('CMQ_ERR_GUEST', 'id', `guest "${g.id}" of tenant "${g.tenant}" already exists`);
}

const INFO_COLUMNS =
  'tenant_id, id, address, port, "user", host_key_fingerprint, trust_on_first_use, log_paths, active, created_at';

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

/**
 * Makes guest `id` of `tenant` active, or inactive: guest.* actions naming it are then refused
 * (CMQ_ERR_GUEST_INACTIVE) and the publisher schedules no log collection for it; its key, pinned
 * host key and log offsets are kept. Returns whether the flag changed, or undefined when there is
 * no such guest.
 */
export async function setGuestActive(
  sql: Sql,
  tenant: string,
  id: string,
  active: boolean,
): Promise<boolean | undefined> {
  const { rows } = await sql.query<{ was: boolean }>(
    `WITH old AS (SELECT tenant_id, id, active FROM guests WHERE tenant_id = $1 AND id = $2 FOR UPDATE)
     UPDATE guests g SET active = $3, updated_at = now() FROM old
     WHERE g.tenant_id = old.tenant_id AND g.id = old.id RETURNING old.active AS was`,
    [tenant, id, active],
  );
  const row = rows[0];
  return row === undefined ? undefined : row.was !== active;
}

/** Why a guest cannot be removed now, if it cannot (see {@link removeGuest}). */
async function removalRefusal(sql: Sql, tenant: string, id: string, active: boolean): Promise<string | undefined> {
  if (active)
    return `guest ${id} of tenant ${tenant} is active: deactivate it first (cmq guests deactivate ${id} --tenant ${tenant}), so that nothing new names it`;
  const server = await sql.query<{ server_id: string; state: string }>(
    `SELECT server_id, state FROM servers WHERE tenant_id = $1 AND guest_id = $2 AND state NOT IN ('terminated', 'gone') LIMIT 1`,
    [tenant, id],
  );
  const s = server.rows[0];
  if (s !== undefined)
    return `guest ${id} is the guest of server ${s.server_id} (${s.state}) that the platform launched: terminate the server (server.terminate), which removes its guest; removed by hand, its pinned host key would be forgotten`;
  const running = await sql.query<{ id: string }>(
    `SELECT id::text FROM actions WHERE tenant_id = $1 AND state = 'running'
       AND ((family = 'guest' AND args->>'guest' = $2) OR (type = 'host.probe' AND args->>'target' = $2)) LIMIT 1`,
    [tenant, id],
  );
  const r = running.rows[0];
  if (r !== undefined) return `action ${r.id} is running on guest ${id}: remove it once that action has ended`;
  return undefined;
}

/**
 * Removes an inactive guest with its key, its pinned host key and its log offsets (the local
 * copies of its logs stay; a guest added again under the same id collects its files from the
 * start). Refused while the guest is active, is a live launched server's guest, or has a
 * running action.
 */
export async function removeGuest(
  sql: Sql,
  tenant: string,
  id: string,
): Promise<{ ok: true } | { ok: false; missing: boolean; error: string }> {
  const { rows } = await sql.query<{ active: boolean }>('SELECT active FROM guests WHERE tenant_id = $1 AND id = $2', [
    tenant,
    id,
  ]);
  const guest = rows[0];
  if (guest === undefined) return { ok: false, missing: true, error: `tenant "${tenant}" has no guest "${id}"` };
  const refusal = await removalRefusal(sql, tenant, id, guest.active);
  if (refusal !== undefined) return { ok: false, missing: false, error: refusal };
  // NOT active again: a guest activated meanwhile is not removed.
  const removed = await sql.query('DELETE FROM guests WHERE tenant_id = $1 AND id = $2 AND NOT active', [tenant, id]);
  if (removed.rowCount !== 1)
    return { ok: false, missing: false, error: `guest ${id} of tenant ${tenant} changed meanwhile: try again` };
  return { ok: true };
}
