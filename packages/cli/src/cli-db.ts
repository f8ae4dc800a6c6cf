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

/** `cli:<user>@<host>` (`shell:<user>@<host>` from `cmq shell`): who did it, in action events. */
export function cliActor(env: Env, via: 'cli' | 'shell' = 'cli'): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = env.USER ?? `uid${process.getuid?.() ?? '?'}`;
  }
  return `${via}:${user}@${hostname()}`;
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
  const opened = openCliDb(dirOption, env);
  try {
    return await fn(opened.db);
  } catch (err) {
    throw opened.explain(err);
  } finally {
    await opened.end();
  }
}

/**
 * A small pool on the database of `worker.properties` that stays open (`cmq shell`); `explain`
 * turns a database error into the readable one `withDatabase` throws; `end` closes the pool.
 */
export function openCliDb(
  dirOption: string | undefined,
  env: Env,
): { db: CliDb; explain: (err: unknown) => unknown; end: () => Promise<void> } {
  const db = loadDbConfig(dirOption, env);
  const pool = createPool({ ...db, pool: { max: Math.min(db.pool.max, 2) } }, pino({ level: 'silent' }), 'cmq');
  return {
    db: { sql: pool, transaction: (work) => withTransaction(pool, work) },
    explain: (err) => explain(err, db),
    end: () => pool.end().catch(() => undefined),
  };
}
