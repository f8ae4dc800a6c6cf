import { CmqError, type Sql } from '@cmq/common';

/** A platform-launched server as recorded (migration 009). */
export interface ServerRow {
  tenant_id: string;
  account_id: string;
  server_id: string;
  launch_action_id: string | null;
  name: string;
  image: string;
  size: string;
  state: string;
  addresses: { public?: string[]; private?: string[] };
  ssh_port: number | null;
  host_key_fingerprint: string | null;
  guest_id: string | null;
  launched_at: Date;
  updated_at: Date;
}

/** What a provider said about a server, as recorded. */
export interface ServerFacts {
  tenant: string;
  account: string;
  serverId: string;
  name: string;
  image: string;
  size: string;
  state: string;
  addresses: { public?: string[]; private?: string[] };
  sshPort?: number;
  hostKeyFingerprint?: string;
}

const COLUMNS = `tenant_id, account_id::text, server_id, launch_action_id::text, name, image, size, state, addresses,
  ssh_port, host_key_fingerprint, guest_id, launched_at, updated_at`;

/**
 * Records a server (a launch's answer, or a server first met by server.await), keyed by
 * (account, server id): a rerun of the same launch (same token, same server) updates the one row.
 * `launchActionId` is kept from the first launch that recorded it.
 */
export async function upsertServer(sql: Sql, s: ServerFacts, launchActionId?: string): Promise<ServerRow> {
  const { rows } = await sql.query<ServerRow>(
    `INSERT INTO servers (tenant_id, account_id, server_id, launch_action_id, name, image, size, state, addresses, ssh_port, host_key_fingerprint)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (account_id, server_id) DO UPDATE SET
       launch_action_id = COALESCE(servers.launch_action_id, EXCLUDED.launch_action_id),
       name = CASE WHEN EXCLUDED.name = '' THEN servers.name ELSE EXCLUDED.name END,
       image = CASE WHEN EXCLUDED.image = '' THEN servers.image ELSE EXCLUDED.image END,
       size = CASE WHEN EXCLUDED.size = '' THEN servers.size ELSE EXCLUDED.size END,
       state = CASE WHEN servers.state IN ('terminated', 'gone') THEN servers.state ELSE EXCLUDED.state END,
       addresses = EXCLUDED.addresses,
       ssh_port = COALESCE(EXCLUDED.ssh_port, servers.ssh_port),
       host_key_fingerprint = COALESCE(EXCLUDED.host_key_fingerprint, servers.host_key_fingerprint),
       updated_at = now()
     RETURNING ${COLUMNS}`,
    [
      s.tenant,
      s.account,
      s.serverId,
      launchActionId ?? null,
      s.name,
      s.image,
      s.size,
      s.state,
      JSON.stringify(s.addresses),
      s.sshPort ?? null,
      s.hostKeyFingerprint ?? null,
    ],
  );
  return rows[0] as ServerRow;
}

export async function getServerRow(
  sql: Sql,
  tenant: string,
  account: string,
  serverId: string,
): Promise<ServerRow | undefined> {
  const { rows } = await sql.query<ServerRow>(
    `SELECT ${COLUMNS} FROM servers WHERE tenant_id = $1 AND account_id = $2 AND server_id = $3`,
    [tenant, account, serverId],
  );
  return rows[0];
}

/** Sets a recorded server's state (nothing when it is not recorded); returns whether it is recorded. */
export async function setServerState(
  sql: Sql,
  tenant: string,
  account: string,
  serverId: string,
  state: string,
): Promise<boolean> {
  const { rowCount } = await sql.query(
    'UPDATE servers SET state = $4, updated_at = now() WHERE tenant_id = $1 AND account_id = $2 AND server_id = $3',
    [tenant, account, serverId, state],
  );
  return rowCount === 1;
}

/** The guest a running server becomes: the platform launched it, so its first host key is trusted. */
export interface ServerGuest {
  id: string;
  address: string;
  port: number;
  user: string;
  /** Keyring ciphertext of the private key the server admits; never the key itself. */
  encryptedKey: string;
  /** Pinned at once when the provider gave it; else recorded on first contact. */
  hostKeyFingerprint?: string;
  /** The server's log files (NULL: the publisher's logs.paths). */
  logPaths?: string[];
}

/**
 * Registers (or refreshes) the guest of a running, recorded server and links it to the server,
 * in one statement. An existing guest of that id is only replaced when it is already the guest
 * of one of the tenant's servers; an operator's guest of the same id is left alone.
 * @throws CmqError CMQ_ERR_SERVER_GUEST (permanent) when the id belongs to an operator's guest.
 */
export async function registerServerGuest(
  sql: Sql,
  tenant: string,
  account: string,
  serverId: string,
  g: ServerGuest,
): Promise<void> {
  const { rows } = await sql.query<{ guest: number }>(
    `WITH g AS (
       INSERT INTO guests AS x (tenant_id, id, address, port, "user", private_key, host_key_fingerprint, trust_on_first_use, log_paths)
       VALUES ($1, $4, $5, $6, $7, $8, $9, true, $10)
       ON CONFLICT (tenant_id, id) DO UPDATE SET address = EXCLUDED.address, port = EXCLUDED.port, "user" = EXCLUDED."user",
         private_key = EXCLUDED.private_key, trust_on_first_use = true, log_paths = EXCLUDED.log_paths,
         host_key_fingerprint = COALESCE(EXCLUDED.host_key_fingerprint, x.host_key_fingerprint), updated_at = now()
       WHERE EXISTS (SELECT 1 FROM servers s WHERE s.tenant_id = x.tenant_id AND s.guest_id = x.id)
       RETURNING x.id
     ), s AS (
       UPDATE servers SET guest_id = g.id, updated_at = now() FROM g
       WHERE servers.tenant_id = $1 AND servers.account_id = $2 AND servers.server_id = $3
     )
     SELECT count(*)::int AS guest FROM g`,
    [
      tenant,
      account,
      serverId,
      g.id,
      g.address,
      g.port,
      g.user,
      g.encryptedKey,
      g.hostKeyFingerprint ?? null,
      g.logPaths ?? null,
    ],
  );
  if (rows[0]?.guest !== 1) {
    throw new CmqError(
      'CMQ_ERR_SERVER_GUEST',
      `tenant "${tenant}" already has a guest "${g.id}" that is not a launched server's (cmq guests list --tenant ${tenant}): server ${serverId} not registered as a guest`,
    );
  }
}

/**
 * Removes the guest registered for a server (after it was terminated: nothing can reach it any
 * more, and scheduled log collection would only fail). Only a guest that is some server's guest;
 * the server keeps `guest_id` as history. Returns the guest id removed, if any.
 */
export async function removeServerGuest(
  sql: Sql,
  tenant: string,
  account: string,
  serverId: string,
): Promise<string | undefined> {
  const { rows } = await sql.query<{ id: string }>(
    `DELETE FROM guests g USING servers s
     WHERE s.tenant_id = $1 AND s.account_id = $2 AND s.server_id = $3 AND g.tenant_id = s.tenant_id AND g.id = s.guest_id
     RETURNING g.id`,
    [tenant, account, serverId],
  );
  return rows[0]?.id;
}
