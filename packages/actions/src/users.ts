import { createHash, randomBytes } from 'node:crypto';
import { CmqError, type Sql } from '@cmq/common';
import { hashPassword } from './passwords';
import { TENANT_ID_RE } from './tenants';

/** What a console user may do: a viewer reads, an operator acts, an admin manages users. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const USER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 1024;

export interface ConsoleUser {
  id: number;
  name: string;
  role: Role;
  /** The tenant the user is bound to (sees only its data); null: every tenant. */
  tenant: string | null;
  disabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A user with the stored password hash, for the login check only. */
export interface ConsoleUserWithHash extends ConsoleUser {
  password_hash: string;
}

export interface NewUser {
  name: string;
  role: Role;
  tenant?: string | null;
  password: string;
}

const COLUMNS = 'id, name, role, tenant_id AS tenant, disabled, created_at, updated_at';

function userError(message: string): CmqError {
  return new CmqError('CMQ_ERR_USER', message);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** @throws CmqError CMQ_ERR_USER naming what is wrong with the name, role or password. */
export function checkNewUser(u: NewUser): void {
  if (!USER_NAME_RE.test(u.name))
    throw userError(
      `user name "${u.name}": use 1-64 of A-Z, a-z, 0-9, '.', '_', '@' and '-', starting with a letter or digit`,
    );
  if (!isRole(u.role)) throw userError(`role "${String(u.role)}": use one of ${ROLES.join(', ')}`);
  if (u.tenant !== undefined && u.tenant !== null && !TENANT_ID_RE.test(u.tenant))
    throw userError(`tenant "${u.tenant}" is not a tenant id`);
  checkPassword(u.password);
}

/** @throws CmqError CMQ_ERR_USER for a password too short or too long. */
export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw userError(`the password is too short: use at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > MAX_PASSWORD_LENGTH)
    throw userError(`the password is too long: use at most ${MAX_PASSWORD_LENGTH} characters`);
}

/**
 * Adds a console user with a scrypt hash of `password`.
 * @throws CmqError CMQ_ERR_USER for a malformed user, a taken name or an unknown tenant.
 */
export async function addUser(sql: Sql, u: NewUser): Promise<ConsoleUser> {
  checkNewUser(u);
  const hash = await hashPassword(u.password);
  try {
    const { rows } = await sql.query<ConsoleUser>(
      `INSERT INTO console_users (name, role, tenant_id, password_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`,
      [u.name, u.role, u.tenant ?? null, hash],
    );
    const row = rows[0];
    if (row === undefined) throw userError(`user "${u.name}" already exists`);
    return row;
  } catch (err) {
    if ((err as { code?: string }).code === '23503')
      throw userError(`unknown tenant "${String(u.tenant)}" (cmq tenants list)`);
    throw err;
  }
}

/** The user named `name` (disabled ones included), or undefined. */
export async function findUser(sql: Sql, name: string): Promise<ConsoleUser | undefined> {
  const { rows } = await sql.query<ConsoleUser>(`SELECT ${COLUMNS} FROM console_users WHERE name = $1`, [name]);
  return rows[0];
}

/** The user with its password hash, for checking a login; undefined for an unknown name. */
export async function findUserForLogin(sql: Sql, name: string): Promise<ConsoleUserWithHash | undefined> {
  const { rows } = await sql.query<ConsoleUserWithHash>(
    `SELECT ${COLUMNS}, password_hash FROM console_users WHERE name = $1`,
    [name],
  );
  return rows[0];
}

export async function listUsers(sql: Sql): Promise<ConsoleUser[]> {
  const { rows } = await sql.query<ConsoleUser>(`SELECT ${COLUMNS} FROM console_users ORDER BY name`);
  return rows;
}

async function requireUpdated(sql: Sql, name: string, text: string, values: unknown[]): Promise<void> {
  const { rowCount } = await sql.query(text, values);
  if (rowCount === 0) throw userError(`unknown user "${name}" (cmq users list)`);
}

/**
 * Replaces the user's password and ends all of its sessions.
 * @throws CmqError CMQ_ERR_USER for an unknown user or a bad password.
 */
export async function setPassword(sql: Sql, name: string, password: string): Promise<void> {
  checkPassword(password);
  const hash = await hashPassword(password);
  await requireUpdated(sql, name, 'UPDATE console_users SET password_hash = $2, updated_at = now() WHERE name = $1', [
    name,
    hash,
  ]);
  await sql.query('DELETE FROM console_sessions WHERE user_id = (SELECT id FROM console_users WHERE name = $1)', [
    name,
  ]);
}

/**
 * Disables the user: it can no longer log in, its sessions end and its API tokens stop working.
 * @throws CmqError CMQ_ERR_USER for an unknown user.
 */
export async function disableUser(sql: Sql, name: string): Promise<void> {
  await requireUpdated(sql, name, 'UPDATE console_users SET disabled = true, updated_at = now() WHERE name = $1', [
    name,
  ]);
  await sql.query('DELETE FROM console_sessions WHERE user_id = (SELECT id FROM console_users WHERE name = $1)', [
    name,
  ]);
}

/** SHA-256 (hex) of a session id or API token: what the tables keep instead of the secret. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A random secret with a recognisable prefix (`cmq_`, for secret scanners) and 256 bits. */
export function newSecret(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * A new API token for the user, returned once; only its hash is stored.
 * @throws CmqError CMQ_ERR_USER for an unknown or disabled user.
 */
export async function createApiToken(sql: Sql, name: string): Promise<string> {
  const user = await findUser(sql, name);
  if (user === undefined) throw userError(`unknown user "${name}" (cmq users list)`);
  if (user.disabled) throw userError(`user "${name}" is disabled`);
  const token = newSecret('cmq_');
  await sql.query('INSERT INTO console_api_tokens (token_hash, user_id) VALUES ($1, $2)', [secretHash(token), user.id]);
  return token;
}
