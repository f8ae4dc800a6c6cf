import { CmqError, FINGERPRINT_RE, type Sql } from '@cmq/common';
import { storableText } from './storable';

/** Tenant that owns the platform's own hosts (nodes) and their actions. */
export const PLATFORM_TENANT = 'cmq-platform';
export const NODE_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
export const NODE_COMMANDS = ['start', 'stop', 'status'] as const;
export type NodeCommand = (typeof NODE_COMMANDS)[number];

/** A node as listed: everything but the private key. */
export interface NodeInfo {
  name: string;
  address: string;
  port: number;
  user: string;
  host_key_fingerprint: string | null;
  start_cmd: string;
  stop_cmd: string;
  status_cmd: string;
  active: boolean;
  last_action: string | null;
  last_exit_code: number | null;
  last_output: string | null;
  last_at: Date | null;
  created_at: Date;
}

/** A node with its encrypted key (decrypt only to connect). */
export interface NodeSecret extends NodeInfo {
  private_key: string;
}

export interface NewNode {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Ciphertext from the keyring, never the key itself. */
  encryptedKey: string;
  hostKey?: string;
  startCmd: string;
  stopCmd: string;
  statusCmd: string;
  active: boolean;
}

/** @throws CmqError CMQ_ERR_NODE for a bad name or fingerprint, or a taken name. */
export async function addNode(sql: Sql, n: NewNode): Promise<void> {
  if (!NODE_NAME_RE.test(n.name))
    throw new CmqError(
      'CMQ_ERR_NODE',
      `node name "${n.name}": use 1-63 of a-z, 0-9, _ . and -, starting with a letter or digit`,
    );
  if (n.hostKey !== undefined && !FINGERPRINT_RE.test(n.hostKey))
    throw new CmqError(
      'CMQ_ERR_NODE',
      `host key "${n.hostKey}" is not a SHA256:... fingerprint as ssh-keygen -l prints it`,
    );
  const { rowCount } = await sql.query(
    `INSERT INTO nodes (name, address, port, "user", private_key, host_key_fingerprint, start_cmd, stop_cmd, status_cmd, active)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING`,
    [
      n.name,
      n.address,
      n.port,
      n.user,
      n.encryptedKey,
      n.hostKey ?? null,
      n.startCmd,
      n.stopCmd,
      n.statusCmd,
      n.active,
    ],
  );
  if (rowCount === 0) throw new CmqError('CMQ_ERR_NODE', `node "${n.name}" already exists`);
}

const INFO_COLUMNS =
  'name, address, port, "user", host_key_fingerprint, start_cmd, stop_cmd, status_cmd, active, last_action, last_exit_code, last_output, last_at, created_at';

export async function listNodes(sql: Sql): Promise<NodeInfo[]> {
  return (await sql.query<NodeInfo>(`SELECT ${INFO_COLUMNS} FROM nodes ORDER BY name`)).rows;
}

export async function getNode(sql: Sql, name: string): Promise<NodeInfo | undefined> {
  return (await sql.query<NodeInfo>(`SELECT ${INFO_COLUMNS} FROM nodes WHERE name = $1`, [name])).rows[0];
}

export async function getNodeSecret(sql: Sql, name: string): Promise<NodeSecret | undefined> {
  return (await sql.query<NodeSecret>(`SELECT ${INFO_COLUMNS}, private_key FROM nodes WHERE name = $1`, [name]))
    .rows[0];
}

/** Returns whether a node was removed. */
export async function removeNode(sql: Sql, name: string): Promise<boolean> {
  return (await sql.query('DELETE FROM nodes WHERE name = $1', [name])).rowCount === 1;
}

/** Keeps the outcome of the node's last start/stop/status command. */
export async function recordNodeStatus(
  sql: Sql,
  name: string,
  action: NodeCommand,
  exitCode: number | null,
  output: string,
): Promise<void> {
  await sql.query(
    'UPDATE nodes SET last_action = $2, last_exit_code = $3, last_output = $4, last_at = now(), updated_at = now() WHERE name = $1',
    [name, action, exitCode, storableText(output)],
  );
}
