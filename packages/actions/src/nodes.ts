import { CmqError, type Sql } from '@cmq/common';
import { commandProblem, hostFieldProblems, quotedValue, throwFirstProblem } from './host-fields';
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

/** A node's fields as an operator changes them (`cmq nodes set`, the console's edit form); absent: unchanged. */
export interface NodeChanges {
  address?: string;
  port?: number;
  user?: string;
  /** Ciphertext from the keyring, never the key itself. */
  encryptedKey?: string;
  hostKey?: string;
  startCmd?: string;
  stopCmd?: string;
  statusCmd?: string;
}

/**
 * Problems with a node's fields, by field name (`name`, `address`, `port`, `user`, `hostKey`,
 * `startCmd`, `stopCmd`, `statusCmd`): THE rules of `cmq nodes add|set` and the console's forms.
 */
export function nodeProblems(n: NodeChanges & { name?: string }): Record<string, string> {
  const out: Record<string, string> = {};
  if (n.name !== undefined && !NODE_NAME_RE.test(n.name))
    out.name = `node name ${quotedValue(n.name)}: use 1-63 of a-z, 0-9, _ . and -, starting with a letter or digit`;
  Object.assign(out, hostFieldProblems(n));
  for (const [field, label] of [
    ['startCmd', 'start command'],
    ['stopCmd', 'stop command'],
    ['statusCmd', 'status command'],
  ] as const) {
    const cmd = n[field];
    const problem = cmd === undefined ? undefined : commandProblem(label, cmd);
    if (problem !== undefined) out[field] = problem;
  }
  return out;
}

/** @throws CmqError CMQ_ERR_NODE for a bad field ({@link nodeProblems}) or a taken name. */
export async function addNode(sql: Sql, n: NewNode): Promise<void> {
  throwFirstProblem('CMQ_ERR_NODE', nodeProblems(n));
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

const CHANGE_COLUMNS: ReadonlyArray<[keyof NodeChanges, string]> = [
  ['address', 'address'],
  ['port', 'port'],
  ['user', '"user"'],
  ['encryptedKey', 'private_key'],
  ['hostKey', 'host_key_fingerprint'],
  ['startCmd', 'start_cmd'],
  ['stopCmd', 'stop_cmd'],
  ['statusCmd', 'status_cmd'],
];

/**
 * Changes the given fields of node `name` (checked as {@link addNode} checks them); the columns
 * changed, or undefined when there is no such node.
 * @throws CmqError CMQ_ERR_NODE for a bad field or when nothing is given to change.
 */
export async function updateNode(sql: Sql, name: string, changes: NodeChanges): Promise<string[] | undefined> {
  throwFirstProblem('CMQ_ERR_NODE', nodeProblems(changes));
  const given = CHANGE_COLUMNS.filter(([field]) => changes[field] !== undefined);
  if (given.length === 0) throw new CmqError('CMQ_ERR_NODE', `node "${name}": nothing to change`);
  const sets = given.map(([, column], i) => `${column} = $${i + 2}`).join(', ');
  const { rowCount } = await sql.query(`UPDATE nodes SET ${sets}, updated_at = now() WHERE name = $1`, [
    name,
    ...given.map(([field]) => changes[field]),
  ]);
  return rowCount === 1 ? given.map(([, column]) => column.replace(/"/g, '')) : undefined;
}

/**
 * Makes node `name` active or inactive (its node.start fails, naming the flag; stop and status still run).
 * Returns whether the flag changed, or undefined when there is no such node.
 */
export async function setNodeActive(sql: Sql, name: string, active: boolean): Promise<boolean | undefined> {
  const { rows } = await sql.query<{ was: boolean }>(
    `WITH old AS (SELECT name, active FROM nodes WHERE name = $1 FOR UPDATE)
     UPDATE nodes n SET active = $2, updated_at = now() FROM old WHERE n.name = old.name RETURNING old.active AS was`,
    [name, active],
  );
  const row = rows[0];
  return row === undefined ? undefined : row.was !== active;
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
