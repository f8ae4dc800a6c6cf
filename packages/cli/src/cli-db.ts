import { hostname, userInfo } from 'node:os';
import {
  type DbConfig,
  SchemaError,
  type Sql,
  type Transactor,
  createPool,
  databaseLabel,
  errorText,
  withTransaction,
  workerFile,
} from '@cmq/common';
import pino from 'pino';
import { type Env, loadConfigFile } from './config-set';

/** What a command gets to talk to PostgreSQL. */
export interface CliDb {
  sql: Sql;
  transaction: Transactor;
}

/** `cli:<user>@<host>`: who did it, in action events. */
export function cliActor(env: Env): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = env.USER ?? `uid${process.getuid?.() ?? '?'}`;
  }
  return `cli:${user}@${hostname()}`;
}

/** Loads only `worker.properties` from the configuration directory (ConfigError: exit 78). */
export function loadDbConfig(dirOption: string | undefined, env: Env): DbConfig['db'] {
  return loadConfigFile(dirOption, env, workerFile).db;
}

/** PostgreSQL errors an operator fixes with `cmq migrate` become a SchemaError (exit 78). */
function explain(err: unknown, db: DbConfig['db']): unknown {
  const code = (err as { code?: string }).code;
  if (code === '3D000')
    return new SchemaError(`database "${db.database}" does not exist: run \`cmq migrate --create-database\``);
  if (code === '42P01')
    return new SchemaError(`${databaseLabel(db)} has no cmq schema (${errorText(err)}): run \`cmq migrate\``);
  if (err instanceof AggregateError)
    return new Error(`cannot reach PostgreSQL at ${databaseLabel(db)}: ${err.errors.map(errorText).join('; ')}`);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT')
    return new Error(`cannot reach PostgreSQL at ${databaseLabel(db)}: ${errorText(err)}`);
  return err;
}

/**
 * Runs `fn` with a small pool on the database of `worker.properties`, and always ends the pool.
 * Database errors come out as one readable line (never the password, never a stack).
 */
export async function withDatabase<T>(
  dirOption: string | undefined,
  env: Env,
  fn: (db: CliDb) => Promise<T>,
): Promise<T> {
  const db = loadDbConfig(dirOption, env);
  const pool = createPool({ ...db, pool: { max: Math.min(db.pool.max, 2) } }, pino({ level: 'silent' }), 'cmq');
  try {
    return await fn({ sql: pool, transaction: (work) => withTransaction(pool, work) });
  } catch (err) {
    throw explain(err, db);
  } finally {
    await pool.end().catch(() => undefined);
  }
}
