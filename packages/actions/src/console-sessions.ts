import type { Sql } from '@cmq/common';
import { type ConsoleUser, newSecret, secretHash } from './users';

/** A live console session: its user (never a disabled one) and its CSRF token. */
export interface SessionInfo {
  user: ConsoleUser;
  csrfToken: string;
  expiresAt: Date;
}

const USER_COLUMNS = `u.id, u.name, u.role, u.tenant_id AS tenant, u.disabled, u.created_at, u.updated_at`;

interface SessionRow extends ConsoleUser {
  csrf_token: string;
  expires_at: Date;
}

/** Starts a session for the user; returns the session id for the cookie (only its hash is stored). */
export async function createSession(
  sql: Sql,
  userId: number,
  remoteAddress: string,
  lifetimeMs: number,
): Promise<{ id: string; csrfToken: string }> {
  const id = newSecret();
  const csrfToken = newSecret();
  await sql.query(
    `INSERT INTO console_sessions (id_hash, user_id, csrf_token, remote_address, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::double precision / 1000))`,
    [secretHash(id), userId, csrfToken, remoteAddress, lifetimeMs],
  );
  // Expired sessions go as new ones come: the table holds only live ones and a few stale.
  await sql.query('DELETE FROM console_sessions WHERE expires_at < now()');
  return { id, csrfToken };
}

/** The session with this id, if it exists, has not expired and its user is enabled. */
export async function findSession(sql: Sql, id: string): Promise<SessionInfo | undefined> {
  const { rows } = await sql.query<SessionRow>(
    `SELECT ${USER_COLUMNS}, s.csrf_token, s.expires_at FROM console_sessions s
       JOIN console_users u ON u.id = s.user_id
      WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.disabled`,
    [secretHash(id)],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  const { csrf_token: csrfToken, expires_at: expiresAt, ...user } = row;
  return { user, csrfToken, expiresAt };
}

/** Ends a session (logout); returns its user's name, or undefined if there was none. */
export async function deleteSession(sql: Sql, id: string): Promise<string | undefined> {
  const { rows } = await sql.query<{ name: string }>(
    `DELETE FROM console_sessions s USING console_users u WHERE s.id_hash = $1 AND u.id = s.user_id RETURNING u.name`,
    [secretHash(id)],
  );
  return rows[0]?.name;
}

/** The enabled user owning this API token (its last use recorded), or undefined. */
export async function useApiToken(sql: Sql, token: string): Promise<ConsoleUser | undefined> {
  const { rows } = await sql.query<ConsoleUser>(
    `UPDATE console_api_tokens t SET last_used_at = now() FROM console_users u
      WHERE t.token_hash = $1 AND u.id = t.user_id AND NOT u.disabled RETURNING ${USER_COLUMNS}`,
    [secretHash(token)],
  );
  return rows[0];
}

/** Failed logins within the window: for this user name and from this address. */
export async function loginFailureCounts(
  sql: Sql,
  userName: string,
  address: string,
  windowMs: number,
): Promise<{ user: number; address: number }> {
  const { rows } = await sql.query<{ user: number; address: number }>(
    `SELECT count(*) FILTER (WHERE user_name = $1)::int AS user, count(*) FILTER (WHERE remote_address = $2)::int AS address
       FROM console_login_failures
      WHERE (user_name = $1 OR remote_address = $2) AND at > now() - make_interval(secs => $3::double precision / 1000)`,
    [userName, address, windowMs],
  );
  return rows[0] ?? { user: 0, address: 0 };
}

/** Records a failed login and forgets those older than the window. */
export async function recordLoginFailure(sql: Sql, userName: string, address: string, windowMs: number): Promise<void> {
  await sql.query('INSERT INTO console_login_failures (user_name, remote_address) VALUES ($1, $2)', [
    userName,
    address,
  ]);
  await sql.query(
    'DELETE FROM console_login_failures WHERE at < now() - make_interval(secs => $1::double precision / 1000)',
    [windowMs],
  );
}

/** After a successful login: the user's earlier failures no longer count against it. */
export async function clearLoginFailures(sql: Sql, userName: string): Promise<void> {
  await sql.query('DELETE FROM console_login_failures WHERE user_name = $1', [userName]);
}
